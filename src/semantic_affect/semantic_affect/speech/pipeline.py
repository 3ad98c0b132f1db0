"""The speech recogniser without ROS: audio in, speaking edges, transcripts and voice affect out.

feed() (audio, any rate/channels) -> MonoConverter (downmix, 16 kHz) -> StreamingVad -> Endpointer
-> AsrWorker (thread) -> events from poll().

Latency trick: when the user pauses (hangover_ms of silence, user_speaking goes false) the final
transcription starts at once, speculatively; if speech resumes before silence_ms the job is
cancelled, otherwise its result is already (nearly) there when the endpoint is confirmed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from semantic_affect.speech.asr import AsrJob, AsrResult, AsrWorker
from semantic_affect.speech.audio import TARGET_RATE, MonoConverter
from semantic_affect.speech.prosody import ProsodyBaseline, ProsodyFeatures, VoiceAffect, features
from semantic_affect.speech.vad import EndpointConfig, Endpointer, EndpointEvent, StreamingVad


@dataclass
class SpeakingEdge:
    speaking: bool
    time: float  # stream time of the decision (s)
    wall: float = field(default_factory=time.monotonic)


@dataclass
class Transcript:
    id: str
    text: str
    language: str
    final: bool
    confidence: float
    start: float
    end: float
    stamp: float  # end of speech for finals, the audio time reached for partials
    compute_s: float = 0.0
    decided_at: float = 0.0  # stream time at which the endpoint was decided
    prosody: ProsodyFeatures | None = None
    voice: VoiceAffect | None = None
    wall: float = field(default_factory=time.monotonic)


Event = SpeakingEdge | Transcript


@dataclass
class PipelineConfig:
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    partials: bool = False
    partial_interval_s: float = 1.0
    id_prefix: str = "asr"
    resync_s: float = 0.25  # a chunk stamp this far off the running sample clock restarts the stream


@dataclass(eq=False)
class _Job(AsrJob):
    confirmed: bool = False
    decided_at: float = 0.0
    result: tuple[AsrResult, ProsodyFeatures | None] | None = None
    emitted: bool = False


class SpeechPipeline:
    """Streaming recogniser core. feed()/flush()/poll() from one thread (the node's executor);
    transcription happens in the worker thread; `notify` is called (from that thread) when poll()
    has something new."""

    def __init__(self, asr: Any, config: PipelineConfig | None = None,
                 notify: Callable[[], None] | None = None) -> None:
        self.config = config or PipelineConfig()
        self.endpoint_config, self.config_problems = self.config.endpoint.sanitized()
        self._notify = notify or (lambda: None)
        self._lock = threading.Lock()
        self._affect_lock = threading.Lock()  # the prosody baseline learns from finals of both threads
        self._outbox: list[Event] = []
        self.baseline = ProsodyBaseline()
        self._converter = MonoConverter(TARGET_RATE)
        self._vad = StreamingVad()
        self._endpointer = Endpointer(self.endpoint_config)
        self._worker = AsrWorker(asr, self._on_result, self._prosody)
        self._anchor: float | None = None  # stream time of 16 kHz sample 0 since the last (re)start
        self._in_frames = 0  # input frames since the anchor (at the input rate)
        self._in_rate = 0
        self._samples16 = 0  # 16 kHz samples given to the VAD since the anchor
        self._counter = 0
        self._current_id = ""
        self._speculative: _Job | None = None
        self._next_partial = 0.0
        self.utterances = 0

    # -- input -----------------------------------------------------------------------------------
    def feed(self, frames: np.ndarray, rate: int, stamp: float | None = None) -> None:
        """Audio frames (frames x channels, or mono) at `rate`; `stamp` = time of the first frame."""
        frames = np.asarray(frames, dtype=np.float32)
        n = frames.shape[0]
        if n == 0:
            return
        if self._anchor is None or rate != self._in_rate:
            self._restart(stamp if stamp is not None else self._now(), rate)
        elif stamp is not None and abs(stamp - self._expected_stamp()) > self.config.resync_s:
            self.flush()  # a gap (dropped audio, new file): close what is open, restart the clock
            self._restart(stamp, rate)
        self._in_frames += n
        mono = self._converter.process(frames, rate)
        probs, audio = self._vad.process(mono)
        self._samples16 += mono.size
        self._handle(self._endpointer.process(probs, audio, self._anchor))
        self._maybe_partial()

    def flush(self) -> None:
        """End of input (or a stalled stream): finish the open utterance."""
        if self._anchor is not None:
            self._handle(self._endpointer.flush(self._anchor))

    def set_notify(self, notify: Callable[[], None] | None) -> None:
        """Called from the worker thread whenever poll() has something new (e.g. a guard condition)."""
        self._notify = notify or (lambda: None)

    def poll(self) -> list[Event]:
        """Events ready since the last call, in order."""
        with self._lock:
            out, self._outbox = self._outbox, []
        return out

    @property
    def in_utterance(self) -> bool:
        return self._endpointer.in_utterance

    @property
    def speaking(self) -> bool:
        return self._endpointer.speaking

    @property
    def clipped_fraction(self) -> float:
        c = self._converter
        return c.clipped / c.samples if c.samples else 0.0

    @property
    def buffered_seconds(self) -> float:
        return self._endpointer.buffered_seconds

    @property
    def worker(self) -> AsrWorker:
        return self._worker

    def wait_idle(self, timeout: float = 60.0) -> bool:
        return self._worker.wait_idle(timeout)

    def close(self) -> None:
        self._worker.close()

    # -- internals -------------------------------------------------------------------------------
    @staticmethod
    def _now() -> float:
        return time.time()

    def _expected_stamp(self) -> float:
        return (self._anchor or 0.0) + self._in_frames / self._in_rate

    def _restart(self, stamp: float, rate: int) -> None:
        self._anchor = float(stamp)
        self._in_rate = int(rate)
        self._in_frames = 0
        self._samples16 = 0
        self._converter = MonoConverter(TARGET_RATE)
        self._vad.reset()
        self._endpointer.reset()

    def _new_id(self) -> str:
        self._counter += 1
        return f"{self.config.id_prefix}-{self._counter}"

    def _handle(self, events: list[EndpointEvent]) -> None:
        for ev in events:
            if ev.kind == "start":
                self._current_id = self._new_id()
                self._next_partial = ev.time + self.config.partial_interval_s
                self._emit(SpeakingEdge(True, ev.time))
            elif ev.kind == "resume":
                self._cancel_speculative()
                self._emit(SpeakingEdge(True, ev.time))
            elif ev.kind == "pause":
                self._emit(SpeakingEdge(False, ev.time))
                self._cancel_speculative()
                if ev.audio is not None:
                    self._speculative = self._submit(ev, confirmed=False)
            elif ev.kind in ("end", "split"):
                job = self._speculative
                self._speculative = None
                if ev.kind == "end" and job is not None and not job.cancelled and abs(job.end - ev.end) < 1e-6:
                    self._confirm(job, ev.time)
                else:
                    if job is not None:
                        job.cancelled = True
                    self._submit(ev, confirmed=True)
                self.utterances += 1
                if ev.kind == "split":
                    self._current_id = self._new_id()

    def _submit(self, ev: EndpointEvent, confirmed: bool) -> _Job:
        job = _Job(self._current_id, "final", ev.audio if ev.audio is not None else np.zeros(0, np.float32),
                   ev.start, ev.end, confirmed=confirmed, decided_at=ev.time if confirmed else 0.0)
        self._worker.submit(job)
        return job

    def _confirm(self, job: _Job, decided_at: float) -> None:
        with self._lock:
            job.confirmed = True
            job.decided_at = decided_at
            ready = job.result is not None and not job.emitted
        if ready:
            self._emit_final(job)
            self._notify()

    def _cancel_speculative(self) -> None:
        if self._speculative is not None:
            self._speculative.cancelled = True
            self._speculative = None

    def _maybe_partial(self) -> None:
        if not (self.config.partials and self._endpointer.in_utterance and self._endpointer.speaking):
            return
        now = self._anchor + self._samples16 / TARGET_RATE
        if now < self._next_partial or not self._worker.idle:
            return
        self._next_partial = now + self.config.partial_interval_s
        audio, a0 = self._endpointer.current_audio()
        job = _Job(self._current_id, "partial", audio, self._anchor + a0, now)
        self._worker.submit(job)

    # worker thread --------------------------------------------------------------------------------
    @staticmethod
    def _prosody(job: AsrJob, result: AsrResult) -> ProsodyFeatures | None:
        if job.kind != "final":
            return None
        return features(job.audio, result.text)

    def _on_result(self, job: AsrJob, payload: tuple[AsrResult, ProsodyFeatures | None]) -> None:
        assert isinstance(job, _Job)
        result, _ = payload
        if job.kind == "partial":
            if job.cancelled or job.utterance_id != self._current_id or not result.text:
                return
            self._emit(Transcript(job.utterance_id, result.text, result.language, False, result.confidence,
                                  job.start, job.end, job.end, compute_s=result.compute_s))
            self._notify()
            return
        with self._lock:
            job.result = payload
            ready = job.confirmed and not job.cancelled and not job.emitted
        if ready:
            self._emit_final(job)
            self._notify()

    def _emit_final(self, job: _Job) -> None:
        assert job.result is not None
        result, prosody = job.result
        with self._lock:
            if job.emitted:
                return
            job.emitted = True
        with self._affect_lock:
            voice = self.baseline.affect(prosody) if prosody is not None else None
        self._emit(Transcript(job.utterance_id, result.text, result.language, True, result.confidence,
                              job.start, job.end, job.end, compute_s=result.compute_s,
                              decided_at=job.decided_at, prosody=prosody, voice=voice))

    def _emit(self, event: Event) -> None:
        with self._lock:
            self._outbox.append(event)
