"""ROS lifecycle node `speech_recognizer`: audio/chunks -> speech/user_speaking (Bool edges),
speech/utterance (partials and finals) and affect/voice (prosody EmotionState).

configure loads the Whisper model (a failure is logged and configure returns FAILURE); activate
creates the subscription, publishers and timers. Callbacks only convert audio and run the VAD
(about 1 ms per 32 ms chunk); Whisper runs in the pipeline's worker thread, whose results wake the
executor through a guard condition.
"""

from __future__ import annotations

import time
from typing import Any

from avatar_common.emotion import sanitize
from avatar_common.node_utils import (
    ERROR,
    OK,
    WARN,
    Diagnostics,
    NodeConfig,
    emotion_to_msg,
    run_node,
    stamp_msg,
    stamp_seconds,
)
from avatar_msgs.msg import AudioChunk, EmotionState, Utterance
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool

from semantic_affect.speech.asr import WhisperAsr
from semantic_affect.speech.audio import AudioFormatError, pcm16_to_float
from semantic_affect.speech.config import SpeechRecognizerConfig
from semantic_affect.speech.pipeline import SpeakingEdge, SpeechPipeline, Transcript

AUDIO_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)  # ~32 s of 32 ms chunks


class SpeechRecognizerNode(LifecycleNode):
    """Voice activity, endpointing, Whisper transcripts and vocal prosody for the user's speech."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("speech_recognizer", **kwargs)
        self.params = NodeConfig(self, SpeechRecognizerConfig)
        self.asr: WhisperAsr | None = None
        self.pipeline: SpeechPipeline | None = None
        self._interfaces: list[Any] = []
        self._sub = None
        self._last_chunk = 0.0
        self.stats = {"chunks": 0, "utterances": 0, "partials": 0, "bad_chunks": 0}
        self.load_error = ""
        self._diag = Diagnostics(self, self._check)  # from construction: a model that fails to load is reported

    # -- lifecycle -------------------------------------------------------------------------------
    def on_configure(self, state: Any) -> TransitionCallbackReturn:
        config, log = self.params.config, self.get_logger()
        cfg = config.asr()
        try:
            self.asr = WhisperAsr(cfg)
        except Exception as exc:
            self.load_error = f"cannot load Whisper model {cfg.model!r}: {type(exc).__name__}: {exc}"
            log.error(self.load_error)
            return TransitionCallbackReturn.FAILURE
        self.pipeline = SpeechPipeline(self.asr, config.pipeline())
        for problem in self.pipeline.config_problems:
            log.error(problem)
        log.info(f"Whisper {cfg.model} ({self.asr.model_path}) loaded in {self.asr.load_s:.1f} s, "
                 f"language {self.asr.language or 'auto'}, encoder_context {cfg.encoder_context}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: Any) -> TransitionCallbackReturn:
        assert self.pipeline is not None
        self._gc = self.create_guard_condition(self._drain)
        self.pipeline.set_notify(self._gc.trigger)  # the worker thread wakes the executor
        self._pub_utt = self.create_publisher(Utterance, "speech/utterance", 20)
        self._pub_speaking = self.create_publisher(Bool, "speech/user_speaking", 10)
        self._pub_voice = self.create_publisher(EmotionState, "affect/voice", 10)
        self._sub = self.create_subscription(AudioChunk, "audio/chunks", self._on_chunk, AUDIO_QOS)
        self._timer = self.create_timer(0.1, self._tick)
        self._last_chunk = time.monotonic()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: Any) -> TransitionCallbackReturn:
        self._teardown_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: Any) -> TransitionCallbackReturn:
        self._teardown_interfaces()
        if self.pipeline is not None:
            self.pipeline.close()
        self.pipeline, self.asr = None, None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: Any) -> TransitionCallbackReturn:
        return self.on_cleanup(state)

    def _teardown_interfaces(self) -> None:
        if self._sub is None:
            return
        self.destroy_timer(self._timer)
        self.destroy_subscription(self._sub)
        for pub in (self._pub_utt, self._pub_speaking, self._pub_voice):
            self.destroy_publisher(pub)
        self.destroy_guard_condition(self._gc)
        if self.pipeline is not None:
            self.pipeline.set_notify(None)
        self._sub = None

    def destroy_node(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
        super().destroy_node()

    # -- callbacks -------------------------------------------------------------------------------
    def _on_chunk(self, msg: AudioChunk) -> None:
        if self.pipeline is None:
            return
        try:
            if msg.encoding.upper() != "S16LE":
                raise AudioFormatError(f"encoding {msg.encoding!r} unsupported (S16LE only)")
            if not 1000 <= msg.sample_rate <= 384000:
                raise AudioFormatError(f"sample_rate {msg.sample_rate} out of range")
            frames = pcm16_to_float(bytes(msg.data), max(1, int(msg.channels)))
        except AudioFormatError as exc:
            self.stats["bad_chunks"] += 1
            if self.stats["bad_chunks"] in (1, 10, 100, 1000):
                self.get_logger().error(f"dropping audio chunk: {exc} ({self.stats['bad_chunks']} so far)")
            return
        stamp = stamp_seconds(msg.header.stamp)
        self.stats["chunks"] += 1
        self._last_chunk = time.monotonic()
        self.pipeline.feed(frames, int(msg.sample_rate), stamp if stamp > 0 else None)
        self._drain()

    def _tick(self) -> None:
        p = self.pipeline
        if p is not None and p.in_utterance and time.monotonic() - self._last_chunk > self.params.config.stall_s:
            self.get_logger().info("audio stalled: ending the open utterance")
            p.flush()
        self._drain()

    def _drain(self) -> None:
        if self.pipeline is None or self._sub is None:
            return
        for event in self.pipeline.poll():
            if isinstance(event, SpeakingEdge):
                self._pub_speaking.publish(Bool(data=event.speaking))
            elif isinstance(event, Transcript):
                self._publish_transcript(event)

    def _publish_transcript(self, t: Transcript) -> None:
        if t.final:
            self.stats["utterances"] += 1
            self.get_logger().info(f"{t.id} {t.end - t.start:.1f} s: {t.text!r} (confidence {t.confidence:.2f}, "
                                   f"ASR {t.compute_s * 1000:.0f} ms)")
        else:
            self.stats["partials"] += 1
        if t.text:
            msg = Utterance(id=t.id, text=t.text, language=t.language, final=t.final,
                            confidence=float(t.confidence), start=stamp_msg(t.start), end=stamp_msg(t.end))
            msg.header.stamp = stamp_msg(t.stamp)
            self._pub_utt.publish(msg)
        if t.final and t.voice is not None and self.params.config.prosody:
            emotion, _ = sanitize([], [], valence=t.voice.valence, arousal=t.voice.arousal,
                                  confidence=t.voice.confidence, source="voice", utterance_id=t.id if t.text else "")
            self._pub_voice.publish(emotion_to_msg(emotion, stamp_msg(t.stamp), source="voice"))

    def _check(self) -> tuple[int, str, dict[str, Any]]:
        p = self.pipeline
        values: dict[str, Any] = dict(self.stats)
        if p is None:
            return ERROR, self.load_error or "not configured", values
        w = p.worker
        values.update(speaking=p.speaking, buffered_s=round(p.buffered_seconds, 2),
                      clipped=round(p.clipped_fraction, 4), asr_errors=w.errors, model=self.params.config.model)
        if w.errors:
            return WARN, f"ASR errors: {w.last_error}", values
        if p.clipped_fraction > 0.01:
            return WARN, "input clipping", values
        return OK, "listening", values


def main(args: list[str] | None = None) -> None:
    run_node(SpeechRecognizerNode, args)


if __name__ == "__main__":
    main()
