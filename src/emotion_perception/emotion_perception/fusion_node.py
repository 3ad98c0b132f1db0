"""emotion_fusion: affect/text, affect/voice, affect/face -> affect/fused (EmotionState, source "fused").

A thin adapter around emotion_perception.fusion.EmotionFuser (formula in fusion/core.py). Every
input is fused and, when it changes the state meaningfully (or starts a new utterance), published
at once from the subscription callback, so the expression synthesizer sees a new utterance without
waiting for a timer. A timer at check_rate_hz publishes the decaying state on meaningful change and
at least at publish_rate_hz. Time is the node clock (ROS time; sim time when use_sim_time is set).
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

from avatar_common.node_utils import (
    OK,
    WARN,
    Diagnostics,
    NodeConfig,
    RepeatedLog,
    emotion_from_msg,
    emotion_to_msg,
    run_node,
)
from avatar_msgs.msg import EmotionState
from rclpy.node import Node
from rclpy.parameter import Parameter

from emotion_perception.fusion.config import FusionConfig, apply, file_values_unless_set
from emotion_perception.fusion.core import SOURCE, EmotionFuser, PublishPolicy
from emotion_perception.fusion.params import FusionParams, default_params, load_params

NODE_NAME = "emotion_fusion"
RECENT_PROBLEM_S = 10.0  # diagnostics WARN while an input needed fixing this recently


class EmotionFusionNode(Node):
    """Fuses the per-modality emotion estimates into one compound emotion."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NODE_NAME), **kwargs)
        self._stamp = self.get_clock().now()
        self.settings = NodeConfig(self, FusionConfig, on_change=self._retune)
        config = self.settings.config
        self._file_params = self._load_params(config.params_file)
        overrides = file_values_unless_set(config, self._file_params)
        if overrides:  # the file's numbers, visible as the parameters' values
            self.set_parameters([Parameter(name, value=value) for name, value in overrides.items()])
        self.params = apply(self._file_params, self.settings.config)
        self.fuser = EmotionFuser(self.params)
        self.policy = PublishPolicy(self.params.change_threshold, self.params.publish_rate_hz)
        self._received = dict.fromkeys(self.params.modalities, 0)
        self._published = 0
        self._problems = 0
        self._last_problem = ""
        self._repeated = RepeatedLog(self)
        self._last_problem_t = -math.inf
        self._last_alphas: dict[str, float] = {}
        self._update_us = 0.0
        self._pub = self.create_publisher(EmotionState, "affect/fused", 10)
        self._subs = [
            self.create_subscription(EmotionState, f"affect/{name}", partial(self._on_estimate, name), 10)
            for name in self.params.modalities
        ]
        self._timer = self._make_timer()
        self._diagnostics = Diagnostics(self, self._health)

    # -- parameters ------------------------------------------------------------------------------
    def _retune(self, config: FusionConfig, changed: set[str]) -> None:
        """Weights, half-lives, threshold and rate apply to the next fusion (state is kept)."""
        if not hasattr(self, "fuser"):
            return  # the constructor's own set_parameters: applied right after
        self.params = apply(self._file_params, config)
        self.fuser.params = self.params
        self.policy = PublishPolicy(self.params.change_threshold, self.params.publish_rate_hz)
        if changed & {"check_rate_hz", "publish_rate_hz"}:
            self.destroy_timer(self._timer)
            self._timer = self._make_timer()

    def _make_timer(self) -> Any:
        return self.create_timer(1.0 / max(self.params.check_rate_hz, self.params.publish_rate_hz), self._on_timer)

    def _load_params(self, path: str) -> FusionParams:
        try:
            return load_params(str(path) if path else None)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()
            self.get_logger().error(
                f"params_file {path!r} unusable ({first[0] if first else type(exc).__name__}"
                f"{'; ' + first[-1].strip() if len(first) > 1 else ''}): using the packaged defaults")
            return default_params()

    # -- data path -------------------------------------------------------------------------------
    def _now(self) -> float:
        self._stamp = self.get_clock().now()
        return self._stamp.nanoseconds * 1e-9

    def _on_estimate(self, modality: str, msg: EmotionState) -> None:
        start = time.perf_counter()
        now = self._now()
        emotion, problems = emotion_from_msg(msg)
        problems += self.fuser.ingest(modality, emotion, now)
        self._received[modality] += 1
        if problems:
            self._report(modality, problems, now)
        self._evaluate(now)
        self._update_us = (time.perf_counter() - start) * 1e6

    def _on_timer(self) -> None:
        self._evaluate(self._now())

    def _evaluate(self, now: float) -> None:
        fused = self.fuser.fuse(now)
        self._last_alphas = dict(fused.alphas)
        reason = self.policy.decide(fused.emotion, now)
        if reason is None:
            return
        msg = emotion_to_msg(fused.emotion, self._stamp.to_msg(), source=SOURCE)  # the time it was fused for
        self._pub.publish(msg)
        self.policy.sent(fused.emotion, now)
        self.fuser.consume_micro()
        self._published += 1

    def _report(self, modality: str, problems: list[str], now: float) -> None:
        self._problems += 1
        self._last_problem_t = now
        self._last_problem = f"affect/{modality}: {'; '.join(problems)}"[:300]
        self._repeated(f"affect/{modality}", f"fixed input {self._last_problem}")  # not a line per frame

    def _health(self) -> tuple[int, str, dict[str, Any]]:
        values: dict[str, Any] = {f"received_{m}": n for m, n in self._received.items()}
        values.update({f"alpha_{m}": f"{a:.3f}" for m, a in self._last_alphas.items()})
        values.update(published=self._published, inputs_fixed=self._problems, last_problem=self._last_problem,
                      last_update_us=f"{self._update_us:.0f}")
        if self._now() - self._last_problem_t < RECENT_PROBLEM_S:
            return WARN, "running; recent inputs needed fixing", values
        return OK, "running", values


def main(args: list[str] | None = None) -> None:
    run_node(EmotionFusionNode, args)


if __name__ == "__main__":
    main()
