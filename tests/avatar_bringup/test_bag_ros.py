"""avatar-bag with real rclpy: record a running graph, play into a second recorder, survive SIGKILL.

The recorder and player run as the real command in child processes on this run's ROS domain; the
graph's nodes run in the test process. Bags are read back with rosbags' AnyReader and with the
mcap library + mcap-ros2-support.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from avatar_msgs.msg import ActionUnits, EmotionState
from bag_support import AU_TOPIC, read_mcap, read_rosbags, write_bag

pytestmark = pytest.mark.ros
VENV_BIN = Path(sys.executable).parent
NS = "/avatar"


def record(out: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(VENV_BIN / "avatar-bag"), "record", "-o", str(out), "--quiet", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, proc.stderr.read()


def recording(ros, proc: subprocess.Popen, topic: str) -> None:
    """Wait until the recorder process subscribed to `topic` (it shows in the graph)."""
    def subscribed() -> bool:
        assert proc.poll() is None, proc.stderr.read()
        return any(i.node_name == "avatar_bag_recorder" for i in ros.tester.get_subscriptions_info_by_topic(topic))

    ros.spin_until(subscribed, 20.0, f"recorder on {topic}")


def test_record_a_running_graph_read_by_two_readers(ros, ros_env, tmp_path: Path) -> None:
    from au_animation.expression_node import ExpressionSynthesizerNode
    from emotion_perception.fusion_node import EmotionFusionNode

    ros.add(ExpressionSynthesizerNode(**ros.node_kwargs(namespace=NS)))
    ros.add(EmotionFusionNode(**ros.node_kwargs(namespace=NS)))
    frames = ros.collect(ActionUnits, f"{NS}/face/action_units", depth=1000)
    text = ros.publisher(EmotionState, f"{NS}/affect/text")
    ros.wait_for_messages(frames, 5, timeout=20)
    bag = tmp_path / "session"
    proc = record(bag, ros_env, "--all")
    try:
        for topic in (f"{NS}/face/action_units", f"{NS}/affect/fused", f"{NS}/affect/text"):
            recording(ros, proc, topic)
        for labels, weights in ((["happiness"], [0.8]), (["sadness", "fear"], [0.5, 0.3])):
            text.publish(EmotionState(source="text", labels=labels, weights=weights, confidence=0.9))
            ros.spin_for(0.6)
    finally:
        code, err = stop(proc)
    assert code == 0 and "Traceback" not in err, err
    by_rosbags, by_mcap = read_rosbags(bag), read_mcap(bag)
    assert len(by_rosbags) == len(by_mcap) > 60
    assert sorted((ts, t) for t, ts, _ in by_rosbags) == sorted((ts, t) for t, ts, _ in by_mcap)
    types_seen = {type(m).__name__ for _, _, m in by_rosbags}
    assert {"avatar_msgs__msg__ActionUnits", "avatar_msgs__msg__EmotionState"} <= types_seen
    texts = [m for t, _, m in by_mcap if t == f"{NS}/affect/text"]
    assert [list(m.labels) for m in texts] == [["happiness"], ["sadness", "fear"]]
    fused = [m for t, _, m in by_rosbags if t == f"{NS}/affect/fused"]
    assert fused and all(m.source == "fused" for m in fused)
    recorded = {(m.header.stamp.sec, m.header.stamp.nanosec): list(m.intensities)
                for t, _, m in by_rosbags if t == f"{NS}/face/action_units"}
    seen = {(f.header.stamp.sec, f.header.stamp.nanosec): list(f.intensities) for f in frames}
    common = set(recorded) & set(seen)
    assert len(common) >= 0.9 * len(recorded) and all(recorded[k] == pytest.approx(seen[k]) for k in common)


def test_play_into_a_second_recorder_loses_nothing_and_publishes_clock(ros, ros_env, tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_bag(source, 240).close()  # 4 s of 60 Hz frames
    copy = tmp_path / "copy"
    proc = record(copy, ros_env, "/replayed/au", "/clock")
    try:
        player = subprocess.run([str(VENV_BIN / "avatar-bag"), "play", str(source), "--rate", "4",
                                 "--remap", f"{AU_TOPIC}:=/replayed/au", "--wait-for-subscribers", "20"],
                                env=ros_env, capture_output=True, text=True, timeout=60)
        assert player.returncode == 0, player.stderr
        assert "played 240 messages" in player.stderr
    finally:
        code, err = stop(proc)
    assert code == 0, err
    original = read_rosbags(source)
    replayed = read_rosbags(copy)
    frames = [m for t, _, m in replayed if t == "/replayed/au"]
    assert [list(m.intensities) for m in frames] == [list(m.intensities) for _, _, m in original]
    clock = [m.clock.sec * 10**9 + m.clock.nanosec for t, _, m in replayed if t == "/clock"]
    assert len(clock) > 50 and clock == sorted(clock)  # 100 Hz for about 1 s of wall time
    assert original[0][1] <= clock[0] and clock[-1] <= original[-1][1]


def test_sigkill_leaves_every_flushed_chunk_readable(ros, ros_env, tmp_path: Path) -> None:
    bag = tmp_path / "killed"
    proc = record(bag, ros_env, "/killed/au", "--chunk-seconds", "0.25")
    pub = ros.publisher(ActionUnits, "/killed/au", depth=100)
    try:
        ros.wait_for_subscribers(pub, timeout=20)
        recording(ros, proc, "/killed/au")
        sent = 0
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            pub.publish(ActionUnits(names=["AU12"], intensities=[sent / 1000]))
            sent += 1
            ros.spin_for(1 / 60)
        killed_after = sent
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (bag / "metadata.yaml").exists()
    info = subprocess.run([str(VENV_BIN / "avatar-bag"), "info", str(bag)], capture_output=True, text=True)
    assert info.returncode == 2 and "reindex" in info.stderr
    fixed = subprocess.run([str(VENV_BIN / "avatar-bag"), "reindex", str(bag)], capture_output=True, text=True)
    assert fixed.returncode == 0, fixed.stderr
    for messages in (read_rosbags(bag), read_mcap(bag)):
        values = [round(m.intensities[0] * 1000) for _, _, m in messages]
        assert values == list(range(len(values)))  # a gap-free prefix of what was sent
        # all but the chunk being filled (0.25 s of log time) and what was in flight
        assert len(values) >= killed_after - 60, (len(values), killed_after)
