"""Every avatar_msgs type travels between two real nodes, and between two processes, over Fast DDS."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from avatar_msgs.msg import (
    ActionUnits,
    AffectAnalysis,
    AudioChunk,
    EmotionState,
    FaceDetection,
    FaceDetections,
    Utterance,
)

pytestmark = pytest.mark.ros


def sample_messages() -> dict[str, object]:
    """One filled-in message of each type, keyed by a topic name (floats exact in float32)."""
    emo = EmotionState(source="text", labels=["happiness", "surprise"], weights=[0.75, 0.375],
                       valence=0.625, arousal=0.5, confidence=0.875, utterance_id="say-1",
                       micro_expression="disgust", micro_intensity=0.25)
    utt = Utterance(id="say-1", text="I got the job!", language="en", final=True, confidence=1.0)
    utt.start.sec, utt.end.sec = 10, 12
    audio = AudioChunk(sample_rate=16000, channels=1, encoding="S16LE", data=bytes(range(256)) * 4)
    aus = ActionUnits(names=["AU06", "AU12", "AU12R"], intensities=[0.5, 0.75, 0.125])
    faces = FaceDetections(faces=[FaceDetection(id="f1", x=10, y=20, width=64, height=80, score=0.96875)])
    analysis = AffectAnalysis(utterance_id="say-1", text="I got the job!", backend="offline",
                              model="minilm-logreg", rationale="", latency_ms=12.5, result_json="{}")
    return {"emotion": emo, "utterance": utt, "audio": audio, "aus": aus, "faces": faces,
            "analysis": analysis}


def test_every_type_between_two_nodes(ros) -> None:
    from rclpy.node import Node

    sender = ros.add(Node("sender", context=ros.context))
    for topic, msg in sample_messages().items():
        received = ros.collect(type(msg), topic)
        pub = sender.create_publisher(type(msg), topic, 10)
        ros.wait_for_subscribers(pub)
        pub.publish(msg)
        assert ros.wait_for_messages(received, 1)[0] == msg, topic


def test_every_type_between_two_processes(ros, ros_env) -> None:
    """A child process publishes each type; this process receives them intact."""
    received = {topic: ros.collect(type(msg), topic) for topic, msg in sample_messages().items()}
    child = textwrap.dedent(
        """
        import sys, time, rclpy
        sys.path.insert(0, sys.argv[1])
        from test_messages import sample_messages
        rclpy.init()
        node = rclpy.create_node("child_sender")
        msgs = sample_messages()
        pubs = {t: node.create_publisher(type(m), t, 10) for t, m in msgs.items()}
        end = time.monotonic() + 20
        while time.monotonic() < end and any(p.get_subscription_count() == 0 for p in pubs.values()):
            rclpy.spin_once(node, timeout_sec=0.05)
        for t, m in msgs.items():
            pubs[t].publish(m)
        rclpy.spin_once(node, timeout_sec=0.5)
        node.destroy_node(); rclpy.shutdown()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child, str(Path(__file__).parent)], env=ros_env)
    try:
        ros.spin_until(lambda: all(received.values()), timeout=30, what="messages from the child process")
    finally:
        proc.wait(timeout=10)
    for topic, msg in sample_messages().items():
        assert received[topic][0] == msg, topic
