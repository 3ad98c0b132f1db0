"""The live demo's observer: listens to the whole graph, feeds avatar_bringup.demo.DemoLog, and says
when the conversation has played out and the face settled.

Callbacks only record (the analysis runs once at the end); `done` turns true once the audio has
played, every turn of the script has a transcript (or a grace period passed), the last one reached
the face and the face settled, or at the latest after `timeout_s`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from avatar_common.node_utils import stamp_seconds
from avatar_msgs.msg import ActionUnits, AffectAnalysis, AudioChunk, EmotionState, Utterance
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import Bool

from avatar_bringup.conversation import SettleDetector
from avatar_bringup.demo import DemoLog, DemoMedia

TRANSCRIPT_GRACE_S = 12.0  # after the audio ended, stop waiting for transcripts of missed turns
SETTLE_CAP_S = 6.0  # after the last text estimate, stop even if the face keeps moving (the video drives it)
TAIL_S = 1.0  # at least this long after the last text estimate, so its expression is recorded rising
# (relative topic, "pub"/"sub", node): what each node has once it is active, so the conversation can begin
READY = (("audio/chunks", "sub", "speech_recognizer"), ("speech/utterance", "sub", "text_affect"),
         ("affect/face", "pub", "face_emotion"), ("affect/fused", "pub", "emotion_fusion"),
         ("face/action_units", "pub", "expression_synthesizer"))


def demo_log(media: DemoMedia) -> DemoLog:
    """A DemoLog with au_animation's thinking cue and EMFACS prototypes (what the face should do)."""
    from au_animation.engine.tables import load_tables

    tables = load_tables()
    protos = tables.prototypes
    prototypes = {label: {au: protos.intensity(e) for au, e in p.aus.items()} for label, p in protos.emotions.items()}
    return DemoLog(media.turns, tables.life.thinking.aus, prototypes)


class DemoObserver(Node):
    """Subscribes to audio, speech, every estimate and the AU stream; `log` holds what it saw."""

    def __init__(self, media: DemoMedia, timeout_s: float = 100.0, start_audio: Callable[[], None] | None = None,
                 wait_for: tuple[str, ...] = (), **kwargs: Any) -> None:
        """`start_audio`: called once the nodes in `wait_for` are active (when they run in other
        processes that load their models in parallel, audio played earlier would reach nobody)."""
        super().__init__(kwargs.pop("node_name", "demo_observer"), **kwargs)
        self.media = media
        self.log = demo_log(media)
        self.timeout_s = timeout_s
        self._start_audio = start_audio
        self._wait_for = [r for r in READY if r[2] in wait_for]
        self.done = False
        self.reason = ""
        self.dashboard_url = ""  # from the dashboard's /diagnostics (it may run in another process)
        self._started = self._now()
        self._settle = SettleDetector()
        self.create_subscription(AudioChunk, "audio/chunks", self._on_audio, 10)
        self.create_subscription(Bool, "speech/user_speaking", self._on_speaking, 10)
        self.create_subscription(Utterance, "speech/utterance", self._on_utterance, 20)
        self.create_subscription(AffectAnalysis, "affect/text_analysis", self._on_analysis, 10)
        for source in ("text", "voice", "face", "fused"):
            self.create_subscription(EmotionState, f"affect/{source}",
                                     lambda msg, s=source: self._on_estimate(s, msg), 50)
        self.create_subscription(ActionUnits, "face/action_units", self._on_frame, 100)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.create_timer(0.1, self._check)

    # -- callbacks -------------------------------------------------------------------------------
    def _on_audio(self, msg: AudioChunk) -> None:
        if self.log.audio_start is None:
            self.log.audio(stamp_seconds(msg.header.stamp))

    def _on_speaking(self, msg: Bool) -> None:
        self.log.speaking(bool(msg.data), self._now())

    def _on_utterance(self, msg: Utterance) -> None:
        self.log.utterance(msg.id, msg.text, msg.final, stamp_seconds(msg.end), self._now())

    def _on_analysis(self, msg: AffectAnalysis) -> None:
        self.log.analysis(msg.utterance_id, msg.backend, msg.latency_ms)

    def _on_estimate(self, source: str, msg: EmotionState) -> None:
        self.log.estimate(source, list(msg.labels), list(msg.weights), msg.valence, msg.arousal,
                          msg.utterance_id, stamp_seconds(msg.header.stamp), self._now())

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            url = next((kv.value for kv in status.values if kv.key == "url" and kv.value.startswith("http")), "")
            if url:
                self.dashboard_url = url

    def _on_frame(self, msg: ActionUnits) -> None:
        now = self._now()
        self.log.frame(list(msg.names), list(msg.intensities), stamp_seconds(msg.header.stamp), now)
        self._settle.feed(now, list(msg.names), list(msg.intensities))

    # -- end condition ---------------------------------------------------------------------------
    def _check(self) -> None:
        if self.done:
            return
        now = self._now()
        if self._start_audio is not None and self._active():
            self._start_audio()
            self._start_audio = None
        if now - self._started > self.timeout_s:
            self.done, self.reason = True, f"timeout after {self.timeout_s:.0f} s"
            return
        start = self.log.audio_start
        if start is None:
            return
        audio_over = now - start - self.media.duration_s
        finals = self.log.records
        if audio_over < 0 or (len(finals) < len(self.media.turns) and audio_over < TRANSCRIPT_GRACE_S):
            return
        last = finals[-1].utterance_id if finals else None
        text = self.log.by_id("text", last) if last else None
        if last is not None and text is None and audio_over < TRANSCRIPT_GRACE_S:
            return
        since = now - text.arrival if text else audio_over
        if since >= TAIL_S and (self._settle.settled() or since >= SETTLE_CAP_S):
            self.done = True
            self.reason = "face settled" if self._settle.settled() else f"face still moving {SETTLE_CAP_S:.0f} s on"

    def _active(self) -> bool:
        for topic, kind, node in self._wait_for:
            name = self.resolve_topic_name(topic)
            infos = self.get_subscriptions_info_by_topic(name) if kind == "sub" else \
                self.get_publishers_info_by_topic(name)
            if not any(i.node_name == node for i in infos):
                return False
        return True

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9
