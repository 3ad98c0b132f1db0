"""expression_synthesizer with real rclpy: rate, content, hostile input, sim-time determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from au_animation.engine import Synthesizer
from au_animation.expression_node import ExpressionSynthesizerNode
from avatar_common.node_utils import stamp_seconds
from avatar_msgs.msg import ActionUnits, EmotionState
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Bool

pytestmark = pytest.mark.ros


def emotion(labels, weights, **fields) -> EmotionState:
    msg = EmotionState(source="fused", labels=list(labels), weights=[float(w) for w in weights])
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


def test_publishes_action_units_at_the_configured_rate(ros) -> None:
    node = ros.add(ExpressionSynthesizerNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("rate_hz", value=50), Parameter("mode", value="bogus"), Parameter("life", value=False)])))
    frames = ros.collect(ActionUnits, "face/action_units", depth=500)
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    pub = ros.publisher(EmotionState, "affect/fused")
    ros.wait_for_subscribers(pub)
    ros.wait_for_messages(frames, 5)
    assert node.synth.mode == "dynamic"  # the bogus mode fell back to the default
    pub.publish(emotion(["happiness", "surprise"], [0.8, 0.4]))
    start = len(frames)
    ros.spin_for(2.0)
    got = frames[start:]
    stamps = np.array([stamp_seconds(m.header.stamp) for m in got])
    period = np.median(np.diff(stamps))
    assert period == pytest.approx(0.02, abs=0.002)
    assert len(got) >= 60  # 2 s at 50 Hz, with slack for a loaded machine
    last = dict(zip(got[-1].names, got[-1].intensities, strict=True))
    assert tuple(got[-1].names) == Synthesizer().channels
    assert last["AU12"] > 0.4 and last["AU06"] > 0.3 and last["AU01"] > 0.1
    ros.wait_for_messages(diagnostics, 1)
    status = diagnostics[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert status.name.endswith("expression_synthesizer") and values["estimates"] == "1"
    assert values["mode"] == "dynamic" and float(values["step_mean_us"]) > 0.0


def test_hostile_estimates_and_speaking_flags(ros) -> None:
    ros.add(ExpressionSynthesizerNode(**ros.node_kwargs()))
    frames = ros.collect(ActionUnits, "face/action_units", depth=500)
    pub = ros.publisher(EmotionState, "affect/fused")
    speaking = ros.publisher(Bool, "avatar/speaking")
    ros.wait_for_subscribers(pub)
    ros.wait_for_subscribers(speaking)
    pub.publish(emotion(["happiness", "anger", "??", "joy"], [math.nan, math.inf, 3.0], valence=math.nan,
                        micro_expression="sneer", micro_intensity=math.inf))
    pub.publish(emotion(["happiness"], [1.0], micro_expression="disgust", micro_intensity=2.0))
    ros.spin_for(1.5)
    speaking.publish(Bool(data=True))
    ros.spin_for(0.8)
    assert len(frames) > 30
    values = np.array([m.intensities for m in frames])
    assert np.all(np.isfinite(values)) and values.min() >= 0.0 and values.max() <= 1.0
    last = dict(zip(frames[-1].names, frames[-1].intensities, strict=True))
    assert last["AU25"] == 0.0 and last["AU12"] <= 0.5 + 1e-6 and last["AU06"] > 0.3  # lip-sync owns the mouth


def _sim_session(ros) -> list[list[float]]:
    """Drive the node with a hand-stepped /clock; estimates arrive between fixed ticks."""
    node = ros.add(ExpressionSynthesizerNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("use_sim_time", value=True), Parameter("rate_hz", value=60.0)])))
    frames = ros.collect(ActionUnits, "face/action_units", depth=1000)
    clock = ros.publisher(Clock, "/clock")
    pub = ros.publisher(EmotionState, "affect/fused")
    user = ros.publisher(Bool, "speech/user_speaking")
    for p in (clock, pub, user):
        ros.wait_for_subscribers(p)
    period_ns = 1_000_000_000 // 60 + 1
    start_ns = 100 * 1_000_000_000
    script = {5: ("emotion", ["happiness", "surprise"], [0.7, 0.5]), 30: ("user", True), 50: ("user", False),
              70: ("emotion", ["sadness"], [0.6])}
    received = 0
    for k in range(90):
        if k in script:
            item = script[k]
            if item[0] == "emotion":
                pub.publish(emotion(item[1], item[2], micro_expression="contempt" if k == 70 else "",
                                    micro_intensity=0.8))
                received += 1
                ros.spin_until(lambda n=received: node._received >= n, 5.0, "estimate delivered")
            else:
                user.publish(Bool(data=item[1]))
                ros.spin_until(lambda: len(node._pending) > 0, 5.0, "flag delivered")
        now = start_ns + k * period_ns
        clock.publish(Clock(clock=Time(sec=now // 1_000_000_000, nanosec=now % 1_000_000_000)))
        ros.spin_until(lambda now=now: node.get_clock().now().nanoseconds >= now, 5.0, "sim clock")
        if k > 0:
            ros.spin_until(lambda n=k: len(frames) >= n, 5.0, f"frame {k}")
    ros.executor.remove_node(node)
    node.destroy_node()
    return [list(m.intensities) for m in frames]


def test_same_messages_and_sim_clock_give_identical_frames(ros) -> None:
    first = _sim_session(ros)
    second = _sim_session(ros)
    assert 85 <= len(first) <= 90 and len(first) == len(second)
    assert first == second
    values = np.array(first)
    assert values.max() > 0.3  # the estimates did show
