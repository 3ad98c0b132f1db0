"""What the dashboard shows, aggregated from the latest messages: one thread-safe store, plain data only.

ROS callbacks (the executor's thread) call the `on_*` methods, which only store values under a lock;
the web server's thread reads `changed_since()` at its own pace. Each section ("transcript",
"emotions", "aus", "detections", "latency", "image") carries a version number, so a reader sends
only what changed and a page that reloads gets everything from `snapshot()`.

Latency figures follow one utterance through the graph, on this process's wall clock (arrival
times), with the end of speech from the Utterance stamp:
speech end -> VAD endpoint (speech/user_speaking turns false) -> transcript (final Utterance arrives)
-> affect (affect/text for its id) -> fused (next affect/fused) -> face (next face/action_units frame).
Without a speaking edge (typed text), ASR counts from the end of speech.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from avatar_common.emotion import CANONICAL_LABELS

MODALITIES = ("text", "voice", "face", "fused")
LATENCY_ROWS = 5
MAX_TEXT = 2000  # characters of one utterance or rationale kept (the page is not a log)
MAX_AUS = 64  # AU names per frame shown (a frame is about 22); names are cut to MAX_NAME characters
MAX_NAME = 16
PLAUSIBLE_ASR_S = 120.0  # an end-of-speech stamp further back than this is another clock (sim time)


@dataclass
class _Latency:
    utterance_id: str
    speech_end: float | None = None
    endpoint: float | None = None
    transcript: float | None = None
    affect: float | None = None
    fused: float | None = None
    face: float | None = None

    def row(self) -> dict[str, Any]:
        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(1000.0 * (b - a), 1)

        heard = ms(self.speech_end, self.transcript)
        if heard is not None and not 0.0 <= heard <= 1000.0 * PLAUSIBLE_ASR_S:
            heard = None
        vad = ms(self.speech_end, self.endpoint) if heard is not None else None
        asr = heard if vad is None else ms(self.endpoint, self.transcript)
        return {"id": self.utterance_id, "vad_ms": vad, "asr_ms": asr,
                "text_affect_ms": ms(self.transcript, self.affect),
                "fusion_ms": ms(self.affect, self.fused), "face_ms": ms(self.fused, self.face),
                "total_ms": ms(self.transcript if heard is None else self.speech_end, self.face)}


@dataclass
class _Section:
    version: int = 0
    payload: Any = None


@dataclass
class DashboardState:
    """The latest of everything; see the module docstring. All methods are thread-safe."""

    transcript_lines: int = 12
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sections: dict[str, _Section] = field(default_factory=dict, repr=False)
    _utterances: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict, repr=False)
    _emotions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _latency: OrderedDict[str, _Latency] = field(default_factory=OrderedDict, repr=False)
    _waiting_fused: list[_Latency] = field(default_factory=list, repr=False)
    _waiting_face: list[_Latency] = field(default_factory=list, repr=False)
    _image: Any = field(default=None, repr=False)
    _speaking_off: float | None = None
    _aus: dict[str, float] = field(default_factory=dict, repr=False)
    _head: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _eye: tuple[float, float] = (0.0, 0.0)

    # -- inputs (executor thread) ------------------------------------------------------------------
    def on_utterance(self, utterance_id: str, text: str, final: bool, speech_end: float, now: float,
                     source: str = "") -> None:
        """A partial or final Utterance; a final one replaces the partials of the same id."""
        with self._lock:
            entry = self._utterances.pop(utterance_id, None) or {"id": utterance_id}
            entry.update(text=str(text)[:MAX_TEXT], final=bool(final), source=source)
            self._utterances[utterance_id] = entry
            while len(self._utterances) > self.transcript_lines:
                self._utterances.popitem(last=False)
            if final and utterance_id not in self._latency:
                off = self._speaking_off
                endpoint = off if off is not None and speech_end <= off <= now else None
                self._latency[utterance_id] = _Latency(utterance_id, speech_end=speech_end, endpoint=endpoint,
                                                       transcript=now)
                while len(self._latency) > LATENCY_ROWS:
                    self._latency.popitem(last=False)
                self._bump("latency", self._latency_rows())
            self._bump("transcript", list(self._utterances.values()))

    def on_user_speaking(self, speaking: bool, now: float) -> None:
        """speech/user_speaking: when it turns false, the VAD decided the person stopped."""
        if not speaking:
            with self._lock:
                self._speaking_off = now

    def on_analysis(self, utterance_id: str, backend: str, model: str, rationale: str, latency_ms: float) -> None:
        """The text-affect backend's account of an utterance (shown under it)."""
        with self._lock:
            entry = self._utterances.get(utterance_id)
            if entry is None:
                return
            entry["analysis"] = {"backend": str(backend)[:80], "model": str(model)[:80],
                                 "rationale": str(rationale)[:MAX_TEXT], "latency_ms": _finite(latency_ms)}
            self._bump("transcript", list(self._utterances.values()))

    def on_emotion(self, source: str, weights: dict[str, float], valence: float, arousal: float,
                   confidence: float, utterance_id: str, now: float) -> None:
        """A validated estimate of one modality ("text", "voice", "face") or the fused state."""
        if source not in MODALITIES:
            return
        with self._lock:
            self._emotions[source] = {
                "weights": {k: round(_finite(weights.get(k, 0.0)), 3) for k in CANONICAL_LABELS if k in weights},
                "valence": round(_finite(valence), 3), "arousal": round(_finite(arousal), 3),
                "confidence": round(_finite(confidence), 3), "utterance_id": utterance_id, "t": now}
            self._bump("emotions", dict(self._emotions))
            if source == "text" and utterance_id in self._latency and self._latency[utterance_id].affect is None:
                row = self._latency[utterance_id]
                row.affect = now
                self._waiting_fused.append(row)
            elif source == "fused" and self._waiting_fused:
                for row in self._waiting_fused:
                    row.fused = now
                self._waiting_face.extend(self._waiting_fused)
                self._waiting_fused.clear()
            else:
                return
            self._bump("latency", self._latency_rows())

    def on_action_units(self, names: Sequence[str], values: Sequence[float], now: float) -> None:
        """One AU frame (the 60 Hz stream): stored as is, coalesced by the reader."""
        frame = {str(n)[:MAX_NAME]: round(min(1.0, max(0.0, _finite(v))), 4)
                 for n, v in zip(names[:MAX_AUS], values[:MAX_AUS], strict=False)}
        with self._lock:
            self._aus = frame
            self._bump("aus", self._face())
            if self._waiting_face:
                for row in self._waiting_face:
                    row.face = now
                self._waiting_face.clear()
                self._bump("latency", self._latency_rows())

    def on_head_gaze(self, head: Sequence[float], eye: Sequence[float]) -> None:
        """Head (yaw, pitch, roll) and eye (yaw, pitch) angles in radians, HeadGaze conventions."""
        limit = math.pi / 2
        with self._lock:
            self._head = tuple(round(max(-limit, min(limit, _finite(v))), 4) for v in head[:3])
            self._eye = tuple(round(max(-limit, min(limit, _finite(v))), 4) for v in eye[:2])
            self._bump("aus", self._face())

    def on_detections(self, faces: list[dict[str, Any]], width: int, height: int) -> None:
        """Face boxes in source-image pixels (the page scales them onto its image)."""
        with self._lock:
            self._bump("detections", {"faces": faces, "width": int(width), "height": int(height)})

    def on_image(self, image: Any) -> None:
        """The latest camera frame, kept as given (the server encodes it at its own rate)."""
        with self._lock:
            self._image = image
            self._bump("image", None)

    # -- outputs (server thread) -------------------------------------------------------------------
    def versions(self) -> dict[str, int]:
        with self._lock:
            return {name: s.version for name, s in self._sections.items()}

    def changed_since(self, seen: dict[str, int], names: Sequence[str] | None = None) -> dict[str, tuple[int, Any]]:
        """Sections (optionally only `names`) whose version differs from `seen`: name -> (version, payload)."""
        with self._lock:
            return {name: (s.version, s.payload) for name, s in self._sections.items()
                    if (names is None or name in names) and seen.get(name) != s.version}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {name: s.payload for name, s in self._sections.items() if name != "image"}

    def latest_image(self) -> Any:
        with self._lock:
            return self._image

    # -- internals ---------------------------------------------------------------------------------
    def _bump(self, name: str, payload: Any) -> None:
        section = self._sections.setdefault(name, _Section())
        section.version += 1
        section.payload = payload

    def _face(self) -> dict[str, Any]:
        """The "aus" section: AU values, head and eye angles of the same moment."""
        return {"values": self._aus, "head": list(self._head), "eye": list(self._eye)}

    def _latency_rows(self) -> list[dict[str, Any]]:
        return [row.row() for row in reversed(self._latency.values())]


def _finite(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0
