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

from avatar_common.node_utils import OK, WARN, Diagnostics, emotion_from_msg, emotion_to_msg, run_node
from avatar_msgs.msg import EmotionState
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from emotion_perception.fusion.core import SOURCE, EmotionFuser, PublishPolicy
from emotion_perception.fusion.params import FusionParams, default_params, load_params

NODE_NAME = "emotion_fusion"
PROBLEM_LOG_PERIOD_S = 5.0


class EmotionFusionNode(Node):
    """Fuses the per-modality emotion estimates into one compound emotion."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs.pop("node_name", NODE_NAME), **kwargs)
        self._stamp = self.get_clock().now()
        path = self._declare("params_file", "",
                             "Fusion parameter YAML (weights, half-lives, smoothing); '' = packaged default")
        if not isinstance(path, str):
            self.get_logger().error(f"parameter params_file={path!r} is not a path: using the packaged defaults")
            path = ""
        params = self._load_params(path)
        rate = self._declare("publish_rate_hz", params.publish_rate_hz,
                             "Steady output rate of affect/fused in Hz (changes are published at once in addition)")
        check = self._declare("check_rate_hz", params.check_rate_hz,
                              "How often the decaying state is checked for a meaningful change, in Hz")
        threshold = self._declare("change_threshold", params.change_threshold,
                                  "Publish at once when a weight, valence, arousal or confidence moved by this much")
        rate = self._positive("publish_rate_hz", rate, params.publish_rate_hz, 1000.0)
        check = self._positive("check_rate_hz", check, params.check_rate_hz, 1000.0)
        threshold = self._in_range("change_threshold", threshold, params.change_threshold, 0.0, 1.0)
        params = params.model_copy(update={"publish_rate_hz": rate, "check_rate_hz": check,
                                           "change_threshold": threshold})
        self.params = params
        self.fuser = EmotionFuser(params)
        self.policy = PublishPolicy(threshold, rate)
        self._received = dict.fromkeys(params.modalities, 0)
        self._published = 0
        self._problems = 0
        self._last_problem = ""
        self._last_problem_log = -math.inf
        self._last_problem_t = -math.inf
        self._last_alphas: dict[str, float] = {}
        self._update_us = 0.0
        self._pub = self.create_publisher(EmotionState, "affect/fused", 10)
        self._subs = [
            self.create_subscription(EmotionState, f"affect/{name}", partial(self._on_estimate, name), 10)
            for name in params.modalities
        ]
        self._timer = self.create_timer(1.0 / max(check, rate), self._on_timer)
        self._diagnostics = Diagnostics(self, self._health)

    # -- parameters ------------------------------------------------------------------------------
    def _declare(self, name: str, default: Any, description: str) -> Any:
        """Declare with dynamic typing, so `publish_rate_hz: 5` (an int) or a wrong type is validated, not a crash."""
        self.declare_parameter(name, default, ParameterDescriptor(description=description, dynamic_typing=True))
        return self.get_parameter(name).value

    def _load_params(self, path: str) -> FusionParams:
        try:
            return load_params(str(path) if path else None)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()
            self.get_logger().error(
                f"params_file {path!r} unusable ({first[0] if first else type(exc).__name__}"
                f"{'; ' + first[-1].strip() if len(first) > 1 else ''}): using the packaged defaults")
            return default_params()

    def _positive(self, name: str, value: Any, default: float, high: float) -> float:
        return self._in_range(name, value, default, 0.0, high, exclusive_low=True)

    def _in_range(self, name: str, value: Any, default: float, low: float, high: float,
                  exclusive_low: bool = False) -> float:
        try:
            x = math.nan if isinstance(value, bool | str) else float(value)
        except (TypeError, ValueError):
            x = math.nan
        ok = math.isfinite(x) and (x > low if exclusive_low else x >= low) and x <= high
        if not ok:
            bound = f"{'(' if exclusive_low else '['}{low:g}, {high:g}]"
            self.get_logger().error(f"parameter {name}={value!r} is not in {bound}: using {default:g}")
            return float(default)
        return x

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
        if now - self._last_problem_log >= PROBLEM_LOG_PERIOD_S:  # one clear line, not a flood at 30 fps
            self._last_problem_log = now
            self.get_logger().warning(f"fixed input {self._last_problem}")

    def _health(self) -> tuple[int, str, dict[str, Any]]:
        values: dict[str, Any] = {f"received_{m}": n for m, n in self._received.items()}
        values.update({f"alpha_{m}": f"{a:.3f}" for m, a in self._last_alphas.items()})
        values.update(published=self._published, inputs_fixed=self._problems, last_problem=self._last_problem,
                      last_update_us=f"{self._update_us:.0f}")
        if self._now() - self._last_problem_t < PROBLEM_LOG_PERIOD_S * 2:
            return WARN, "running; recent inputs needed fixing", values
        return OK, "running", values


def main(args: list[str] | None = None) -> None:
    run_node(EmotionFusionNode, args)


if __name__ == "__main__":
    main()
