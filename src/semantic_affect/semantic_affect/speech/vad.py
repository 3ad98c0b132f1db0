"""Streaming voice activity detection (Silero VAD v6, the onnx model bundled with faster-whisper)
and the endpointing state machine that turns per-window speech probabilities into speaking edges
and utterance boundaries.

Silero scores 32 ms windows (512 samples at 16 kHz) with an LSTM state and 64 samples of left
context; `StreamingVad` carries both across calls, so scoring a stream chunk by chunk gives exactly
the probabilities that faster_whisper.vad computes for the whole signal at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WINDOW = 512  # samples per VAD window at 16 kHz (32 ms)
CONTEXT = 64
RATE = 16000
WINDOW_S = WINDOW / RATE


class StreamingVad:
    """Speech probability per 32 ms window for a 16 kHz mono stream fed in arbitrary pieces."""

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model  # onnxruntime session, shared per process

        self._session = get_vad_model().session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of the windows completed by `samples` (float32, 16 kHz mono), and the
        audio of those windows (len(probs) * 512 samples)."""
        x = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n = x.size // WINDOW
        self._pending = x[n * WINDOW:].copy()
        if n == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        windows = x[: n * WINDOW].reshape(n, WINDOW)
        contexts = np.empty((n, CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -CONTEXT:]
        batch = np.ascontiguousarray(np.concatenate([contexts, windows], axis=1))
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(-1), x[: n * WINDOW]


@dataclass
class EndpointConfig:
    """Endpointing parameters (milliseconds unless noted); see docs/speech.md for their effect."""

    threshold: float = 0.5  # a window at or above this is speech
    neg_threshold: float = 0.35  # while speaking, only a window below this counts as silence
    min_speech_ms: float = 64.0  # speech must last this long before an utterance starts
    hangover_ms: float = 160.0  # silence after which user_speaking goes false (and ASR starts early)
    silence_ms: float = 500.0  # silence after which the utterance is final
    pre_roll_ms: float = 200.0  # audio kept before the detected start (word onsets are quiet)
    post_roll_ms: float = 150.0  # audio kept after the last speech window
    max_utterance_s: float = 20.0  # longer speech is cut here (bounded memory, Whisper's 30 s window)

    def sanitized(self) -> tuple[EndpointConfig, list[str]]:
        """A copy with unusable values replaced by defaults, and the complaints."""
        default, problems, values = EndpointConfig(), [], {}
        for name in self.__dataclass_fields__:
            v, d = getattr(self, name), getattr(default, name)
            try:
                v = float(v)
            except (TypeError, ValueError):
                v = float("nan")
            ok = np.isfinite(v) and v >= 0.0
            if name in ("threshold", "neg_threshold"):
                ok = ok and 0.0 < v < 1.0
            if name == "max_utterance_s":
                ok = ok and 1.0 <= v <= 29.0
            if not ok:
                problems.append(f"{name}={getattr(self, name)!r} unusable, using {d}")
                v = d
            values[name] = v
        cfg = EndpointConfig(**values)
        if cfg.neg_threshold > cfg.threshold:
            problems.append(f"neg_threshold {cfg.neg_threshold} > threshold {cfg.threshold}: set equal")
            cfg.neg_threshold = cfg.threshold
        if cfg.hangover_ms > cfg.silence_ms:
            problems.append(f"hangover_ms {cfg.hangover_ms} > silence_ms {cfg.silence_ms}: set equal")
            cfg.hangover_ms = cfg.silence_ms
        return cfg, problems


@dataclass
class EndpointEvent:
    """What the endpointer decided after a window.

    kind: "start" (utterance begins, user_speaking true), "pause" (user_speaking false, the
    utterance may still continue), "resume" (speech again before the endpoint, user_speaking true),
    "end" (utterance final), "split" (max length reached mid-speech: this part is final, the next
    begins at once). Times are window indices converted to seconds of stream audio.
    """

    kind: str
    time: float  # stream time (s) at which the decision was made (end of the deciding window)
    start: float = 0.0  # speech start of the utterance (s)
    end: float = 0.0  # speech end (last speech window end) for pause/end/split
    audio: np.ndarray | None = field(default=None, repr=False)  # utterance audio for pause/end/split
    audio_start: float = 0.0  # stream time of audio[0]


class Endpointer:
    """Window probabilities -> speaking edges and utterances, holding the utterance audio.

    Memory is bounded: a pre-roll ring while silent, at most max_utterance_s of audio while
    speaking.
    """

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        c = self.config
        self._min_speech = max(1, round(c.min_speech_ms / 1000.0 / WINDOW_S))
        self._hangover = max(1, round(c.hangover_ms / 1000.0 / WINDOW_S))
        self._silence = max(self._hangover, round(c.silence_ms / 1000.0 / WINDOW_S))
        self._pre = round(c.pre_roll_ms / 1000.0 / WINDOW_S)
        self._post = round(c.post_roll_ms / 1000.0 / WINDOW_S)
        self._max = max(self._min_speech + 1, int(c.max_utterance_s / WINDOW_S))
        self.reset()

    def reset(self) -> None:
        self._windows: list[np.ndarray] = []  # audio windows kept (pre-roll or utterance)
        self._first = 0  # window index of _windows[0]
        self._index = 0  # index of the next window
        self.in_utterance = False
        self.speaking = False
        self._run = 0  # consecutive speech windows while not in an utterance
        self._speech_start = 0  # window index of the utterance's first speech window
        self._last_speech = 0  # window index after the last speech window
        self._silent = 0  # consecutive silent windows in an utterance

    @property
    def buffered_seconds(self) -> float:
        return len(self._windows) * WINDOW_S

    def _t(self, window_index: int) -> float:
        return window_index * WINDOW_S

    def process(self, probs: np.ndarray, audio: np.ndarray, t0: float = 0.0) -> list[EndpointEvent]:
        """Feed window probabilities with their audio (len(probs) * 512 samples).

        `t0` is the stream time of window 0 (the clock the events are expressed in).
        """
        events: list[EndpointEvent] = []
        c = self.config
        for k, p in enumerate(np.asarray(probs, dtype=np.float32)):
            i = self._index
            self._windows.append(np.asarray(audio[k * WINDOW:(k + 1) * WINDOW], dtype=np.float32))
            self._index += 1
            now = t0 + self._t(i + 1)
            if not self.in_utterance:
                if p >= c.threshold:
                    self._run += 1
                elif p < c.neg_threshold:
                    self._run = 0  # between the thresholds an onset run is kept, not extended
                if self._run >= self._min_speech:
                    self.in_utterance = self.speaking = True
                    self._speech_start = i + 1 - self._run
                    self._last_speech = i + 1
                    self._silent = 0
                    self._run = 0
                    events.append(EndpointEvent("start", now, start=t0 + self._t(self._speech_start)))
                else:
                    self._trim_pre_roll()
                continue
            # in an utterance
            is_speech = p >= c.threshold or (p >= c.neg_threshold and self._silent == 0)
            if is_speech:
                self._last_speech = i + 1
                self._silent = 0
                if not self.speaking:
                    self.speaking = True
                    events.append(EndpointEvent("resume", now, start=t0 + self._t(self._speech_start)))
            else:
                self._silent += 1
                if self.speaking and self._silent >= self._hangover:
                    self.speaking = False
                    events.append(self._segment_event("pause", now, t0, final=False))
                if self._silent >= self._silence:
                    events.append(self._segment_event("end", now, t0, final=True))
                    continue
            if self.in_utterance and i + 1 - self._speech_start >= self._max:
                events.append(self._split(now, t0))
        return events

    def flush(self, t0: float = 0.0) -> list[EndpointEvent]:
        """End of stream (or a stalled stream): finish an open utterance."""
        if not self.in_utterance:
            return []
        events = []
        now = t0 + self._t(self._index)
        if self.speaking:
            self.speaking = False
            events.append(EndpointEvent("pause", now, start=t0 + self._t(self._speech_start),
                                        end=t0 + self._t(self._last_speech)))
        events.append(self._segment_event("end", now, t0, final=True))
        return events

    def current_audio(self) -> tuple[np.ndarray, float]:
        """Audio of the open utterance so far and its start (s re window 0), for partial results."""
        return self._utterance_audio(self._index)

    # -- internals -------------------------------------------------------------------------------
    def _trim_pre_roll(self) -> None:
        keep = self._pre + self._min_speech + 1
        if len(self._windows) > keep:
            drop = len(self._windows) - keep
            del self._windows[:drop]
            self._first += drop

    def _utterance_audio(self, upto: int) -> tuple[np.ndarray, float]:
        lo = max(self._first, self._speech_start - self._pre)
        hi = min(self._index, upto)
        parts = self._windows[lo - self._first: hi - self._first]
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return audio, self._t(lo)

    def _segment_event(self, kind: str, now: float, t0: float, final: bool) -> EndpointEvent:
        audio, a0 = self._utterance_audio(self._last_speech + self._post)
        event = EndpointEvent(kind, now, start=t0 + self._t(self._speech_start),
                              end=t0 + self._t(self._last_speech), audio=audio, audio_start=t0 + a0)
        if final:
            self.in_utterance = self.speaking = False
            self._run = 0
            self._trim_pre_roll()
        return event

    def _split(self, now: float, t0: float) -> EndpointEvent:
        """Cut a too-long utterance here; the next one starts with the following window."""
        end = self._index
        audio, a0 = self._utterance_audio(end)
        event = EndpointEvent("split", now, start=t0 + self._t(self._speech_start), end=t0 + self._t(end),
                              audio=audio, audio_start=t0 + a0)
        del self._windows[: max(0, end - self._first)]
        self._first = end
        self._speech_start = end
        self._last_speech = end
        return event
