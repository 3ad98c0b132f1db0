"""emotion_fusion node with real rclpy: affect/text|voice|face in, affect/fused out, event-driven."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import pytest
from avatar_common.emotion import CANONICAL_LABELS

pytestmark = pytest.mark.ros


def emotion_msg(labels: list, weights: list, confidence: float = 0.9, uid: str = "", stamp_s: float | None = None,
                **fields: object):
    from avatar_common.node_utils import stamp_msg
    from avatar_msgs.msg import EmotionState

    msg = EmotionState(labels=labels, weights=weights, confidence=confidence, utterance_id=uid, **fields)
    if stamp_s is not None:
        msg.header.stamp = stamp_msg(stamp_s)
    return msg


def weight(msg, label: str) -> float:
    return dict(zip(msg.labels, msg.weights, strict=True)).get(label, 0.0)


def valid(msg) -> bool:
    values = [*msg.weights, msg.valence, msg.arousal, msg.confidence]
    return (msg.source == "fused" and list(msg.labels) == list(CANONICAL_LABELS)
            and all(math.isfinite(v) for v in values) and all(0.0 <= w <= 1.0 for w in msg.weights)
            and -1.0 <= msg.valence <= 1.0 and -1.0 <= msg.arousal <= 1.0 and 0.0 <= msg.confidence <= 1.0)


def test_fusion_node_publishes_new_utterance_at_once_and_survives_hostile_input(ros) -> None:
    from avatar_msgs.msg import EmotionState
    from diagnostic_msgs.msg import DiagnosticArray
    from emotion_perception.fusion_node import EmotionFusionNode
    from rclpy.parameter import Parameter

    # Slow timers (one publication per 20 s) prove that inputs are published from the callback.
    node = ros.add(EmotionFusionNode(**ros.node_kwargs(namespace="avatar", parameter_overrides=[
        Parameter("publish_rate_hz", value=0.05), Parameter("check_rate_hz", value=0.05)])))
    fused = ros.collect(EmotionState, "/avatar/affect/fused")
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    text = ros.publisher(EmotionState, "/avatar/affect/text")
    face = ros.publisher(EmotionState, "/avatar/affect/face")
    ros.wait_for_subscribers(text)
    ros.wait_for_subscribers(face)

    now = node.get_clock().now().nanoseconds * 1e-9
    sent = time.monotonic()
    text.publish(emotion_msg(["happiness", "surprise"], [0.9, 0.3], uid="u1", stamp_s=now))
    ros.spin_until(lambda: any(m.utterance_id == "u1" for m in fused), 5.0, "fused u1")
    latency = time.monotonic() - sent
    msg = next(m for m in fused if m.utterance_id == "u1")
    assert latency < 1.0, latency  # the timers would take 20 s
    assert valid(msg) and weight(msg, "happiness") == pytest.approx(0.9, abs=1e-6)
    assert weight(msg, "surprise") == pytest.approx(0.3, abs=1e-6) and msg.valence > 0.3

    # Disagreeing face frames (30 fps for 1 s): sadness joins happiness, happiness still leads.
    for _ in range(30):
        face.publish(emotion_msg(["sadness", "neutral"], [0.8, 0.2], confidence=0.8,
                                 stamp_s=node.get_clock().now().nanoseconds * 1e-9))
        ros.spin_for(1 / 30)
    ros.spin_for(0.1)
    last = fused[-1]
    assert valid(last) and last.utterance_id == "u1"
    assert weight(last, "happiness") > weight(last, "sadness") > 0.15

    # A burst: the latest utterance wins, published at once.
    for uid, label in (("u2", "anger"), ("u3", "sadness")):
        text.publish(emotion_msg([label], [0.85], uid=uid, stamp_s=node.get_clock().now().nanoseconds * 1e-9))
        ros.spin_for(0.02)
    ros.spin_until(lambda: fused[-1].utterance_id == "u3", 5.0, "fused u3")
    assert weight(fused[-1], "anger") == 0.0 and weight(fused[-1], "sadness") > 0.5

    # Hostile input: mismatched arrays, NaN, unknown labels, a stamp far in the future.
    count = len(fused)
    text.publish(emotion_msg(["happiness", "zorg", "anger"], [float("nan"), 0.7], confidence=float("inf"),
                             uid="u4", stamp_s=now + 1e6, valence=float("nan")))
    ros.spin_until(lambda: len(fused) > count and fused[-1].utterance_id == "u4", 5.0, "fused u4")
    assert all(valid(m) for m in fused)
    assert weight(fused[-1], "happiness") == 0.0  # NaN became 0; the stamp was clamped, not kept
    ros.spin_until(lambda: any(s.values and any(v.key == "inputs_fixed" and v.value != "0" for v in s.values)
                               for d in diagnostics for s in d.status if s.name.endswith("emotion_fusion")),
                   5.0, "diagnostics reporting the fixed input")


def test_fusion_node_relaxes_to_neutral_at_its_steady_rate(ros, tmp_path: Path) -> None:
    from avatar_msgs.msg import EmotionState
    from emotion_perception.fusion.params import packaged_params_path
    from emotion_perception.fusion_node import EmotionFusionNode
    from rclpy.parameter import Parameter

    fast = tmp_path / "fast.yaml"  # a parameter file read back by the node: text half-life 0.2 s
    fast.write_text(packaged_params_path().read_text().replace("half_life_s: 4.0", "half_life_s: 0.2", 1))
    node = ros.add(EmotionFusionNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("params_file", value=str(fast)), Parameter("publish_rate_hz", value=10.0),
        Parameter("change_threshold", value=-3.0)])))  # invalid: logged, default used
    assert node.params.modalities["text"].half_life_s == 0.2
    assert node.policy.change_threshold == pytest.approx(0.02)
    fused = ros.collect(EmotionState, "affect/fused")
    text = ros.publisher(EmotionState, "affect/text")
    ros.wait_for_subscribers(text)
    text.publish(emotion_msg(["anger"], [1.0], confidence=1.0, uid="x",
                             stamp_s=node.get_clock().now().nanoseconds * 1e-9))
    ros.spin_until(lambda: any(m.utterance_id == "x" for m in fused), 5.0, "fused x")
    start = len(fused)
    ros.spin_for(2.0)
    tail = fused[start:]
    assert len(tail) >= 15  # steady 10 Hz (and change-driven) output
    assert weight(tail[-1], "anger") < 0.01 and weight(tail[-1], "neutral") > 0.99
    angers = [weight(m, "anger") for m in tail]
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(angers))


def test_fusion_node_bad_params_file_falls_back(ros, tmp_path: Path) -> None:
    from emotion_perception.fusion.params import default_params
    from emotion_perception.fusion_node import EmotionFusionNode
    from rclpy.parameter import Parameter

    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nmodalities: {text: {weight: -1, half_life_s: 0}}\n")
    node = ros.add(EmotionFusionNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("params_file", value=str(bad)), Parameter("publish_rate_hz", value=5),
        Parameter("check_rate_hz", value="fast")])))
    assert node.params.modalities == default_params().modalities
    assert node.get_name() == "emotion_fusion"
    assert node.policy.period == pytest.approx(0.2)  # an int from a YAML profile is fine
    assert node.params.check_rate_hz == default_params().check_rate_hz  # a string is not
    other = ros.add(EmotionFusionNode(**ros.node_kwargs(node_name="fusion_b", parameter_overrides=[
        Parameter("params_file", value=3)])))
    assert other.params == default_params() and other.get_name() == "fusion_b"
