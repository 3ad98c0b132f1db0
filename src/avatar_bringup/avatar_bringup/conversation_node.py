"""The scripted conversation of `avatar-stack --say`: publishes utterances, prints what the face does."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from avatar_msgs.msg import ActionUnits, AffectAnalysis, EmotionState, Utterance
from rclpy.node import Node

from avatar_bringup.conversation import IGNORED_WHEN_SETTLING, SettleDetector, format_items, top_items

READY_TIMEOUT_S = 30.0  # text_affect may load a model first
SETTLE_TIMEOUT_S = 20.0  # after the last utterance, stop even if the face keeps moving


def make_utterance(node: Node, text: str, utterance_id: str) -> Utterance:
    """A final, typed utterance stamped now (start = end: typed text has no duration)."""
    now = node.get_clock().now().to_msg()
    msg = Utterance(id=utterance_id, text=text, language="", final=True, confidence=1.0)
    msg.header.stamp = now
    msg.start = now
    msg.end = now
    return msg


class ConversationDriver(Node):
    """Plays `script` one utterance every `gap` seconds and summarises each one's effect on stdout."""

    def __init__(self, script: list[str], gap: float, linger: float, out: TextIO = sys.stdout,
                 **kwargs: Any) -> None:
        super().__init__("conversation", **kwargs)
        self.script = list(script)
        self.gap = gap
        self.linger = linger
        self.out = out
        self.done = False
        self._next = 0
        self._t_last = self._now()
        self._t_started = self._now()
        self._settle = SettleDetector()
        self._fused: EmotionState | None = None
        self._analysis: dict[str, AffectAnalysis] = {}
        self._text: dict[str, EmotionState] = {}
        self._face: ActionUnits | None = None
        self._settled_at: float | None = None
        self._summarised = False
        self._pub = self.create_publisher(Utterance, "speech/utterance", 10)
        self.create_subscription(EmotionState, "affect/fused", self._on_fused, 10)
        self.create_subscription(EmotionState, "affect/text", self._on_text, 10)
        self.create_subscription(AffectAnalysis, "affect/text_analysis", self._on_analysis, 10)
        self.create_subscription(ActionUnits, "face/action_units", self._on_face, 10)
        self.create_timer(0.05, self._tick)

    # -- callbacks -------------------------------------------------------------------------------
    def _on_fused(self, msg: EmotionState) -> None:
        """Keep the strongest fused state since the current utterance was analysed."""
        if f"say-{self._next}" in self._text and (self._fused is None or _strength(msg) >= _strength(self._fused)):
            self._fused = msg

    def _on_text(self, msg: EmotionState) -> None:
        self._text[msg.utterance_id] = msg

    def _on_analysis(self, msg: AffectAnalysis) -> None:
        self._analysis[msg.utterance_id] = msg

    def _on_face(self, msg: ActionUnits) -> None:
        self._face = msg
        self._settle.feed(self._now(), list(msg.names), list(msg.intensities))

    def _tick(self) -> None:
        """Say each line, summarise it `gap` s later; after the last, wait for the face to settle."""
        now = self._now()
        if self._next == 0:
            if self._pub.get_subscription_count() > 0:
                self._say(0)
            elif now - self._t_started > READY_TIMEOUT_S:
                self.get_logger().error("nobody subscribes to speech/utterance: is text_affect running?")
                self.done = True
            return
        if not self._summarised and now - self._t_last >= self.gap:
            self._summarise(self._next)
            self._summarised = True
            if self._next < len(self.script):
                self._say(self._next)
            return
        if self._summarised and self._next == len(self.script):
            if self._settled_at is None and (self._settle.settled() or now - self._t_last > SETTLE_TIMEOUT_S):
                self._settled_at = now
            if self._settled_at is not None and now - self._settled_at >= self.linger:
                self.done = True

    # -- steps -----------------------------------------------------------------------------------
    def _say(self, index: int) -> None:
        utterance_id = f"say-{index + 1}"
        self._pub.publish(make_utterance(self, self.script[index], utterance_id))
        self._t_last = self._now()
        self._next = index + 1
        self._summarised = False
        self._fused = None

    def _summarise(self, number: int) -> None:
        utterance_id = f"say-{number}"
        lines = [f'[{utterance_id}] "{self.script[number - 1]}"']
        text = self._text.get(utterance_id)
        if text is not None:
            analysis = self._analysis.get(utterance_id)
            how = f" ({analysis.backend}, {analysis.latency_ms:.0f} ms)" if analysis else ""
            lines.append(f"    text{how}: {format_items(top_items(text.labels, text.weights))}")
        else:
            lines.append("    text: no estimate yet")
        if self._fused is not None:
            f = self._fused
            lines.append(f"    fused at its strongest: {format_items(top_items(f.labels, f.weights))}"
                         f"  (valence {f.valence:+.2f}, arousal {f.arousal:+.2f})")
        if self._face is not None:
            aus = top_items(self._face.names, self._face.intensities, n=5, exclude=IGNORED_WHEN_SETTLING)
            lines.append(f"    face after {self.gap:g} s: {format_items(aus)}")
        print("\n".join(lines), file=self.out, flush=True)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9


def _strength(msg: EmotionState) -> float:
    """How far a fused state is from neutral: the largest non-neutral weight."""
    return max((w for k, w in zip(msg.labels, msg.weights, strict=False) if k != "neutral"), default=0.0)

