"""Session recording from the graph: avatar-stack --record, and the launch file's recorder without rosbag2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from avatar_bringup.bag.launch import record_command
from bag_support import read_mcap, read_rosbags
from std_msgs.msg import Bool

pytestmark = pytest.mark.ros
VENV_BIN = Path(sys.executable).parent


def test_launch_records_with_rosbag2_or_falls_back_to_avatar_bag() -> None:
    assert record_command("/avatar", "/tmp/s1", rosbag2=True) == [
        "ros2", "bag", "record", "--storage", "mcap", "--regex", "^/avatar/.*", "--output", "/tmp/s1"]
    fallback = record_command("/avatar", "", rosbag2=False)
    assert fallback[:5] == [sys.executable, "-m", "avatar_bringup.bag_cli", "record", "--regex"]
    assert fallback[-2] == "-o" and fallback[-1].startswith("rosbag2_")


def test_the_fallback_command_records_the_namespace(ros, ros_env, tmp_path: Path) -> None:
    bag = tmp_path / "launched"
    cmd = record_command("/robot1", str(bag), rosbag2=False)
    proc = subprocess.Popen(cmd, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    inside = ros.publisher(Bool, "/robot1/avatar/speaking")
    outside = ros.publisher(Bool, "/other/avatar/speaking")
    try:
        ros.wait_for_subscribers(inside, timeout=20)
        for i in range(10):
            inside.publish(Bool(data=i % 2 == 0))
            outside.publish(Bool(data=True))
            ros.spin_for(0.02)
        ros.spin_for(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0, proc.stderr.read()
    messages = read_rosbags(bag)
    assert [m.data for _, _, m in messages] == [i % 2 == 0 for i in range(10)]
    assert {t for t, _, _ in read_mcap(bag)} == {"/robot1/avatar/speaking"}


def test_scripted_stack_records_a_session_au_report_can_read(ros_env, tmp_path: Path) -> None:
    bag = tmp_path / "demo"
    proc = subprocess.run([str(VENV_BIN / "avatar-stack"), "--say", "I got the job, I'm so happy!",
                           "--say", "But I will miss my friends.", "--gap", "2.5", "--record", str(bag)],
                          capture_output=True, text=True, timeout=180, env=ros_env)
    assert proc.returncode == 0, proc.stderr
    by_rosbags, by_mcap = read_rosbags(bag), read_mcap(bag)
    assert len(by_rosbags) == len(by_mcap)
    topics = {t for t, _, _ in by_rosbags}
    assert {"/avatar/face/action_units", "/avatar/affect/fused", "/avatar/speech/utterance"} <= topics
    texts = [m.text for t, _, m in by_mcap if t == "/avatar/speech/utterance"]
    assert texts == ["I got the job, I'm so happy!", "But I will miss my friends."]
    again = subprocess.run([str(VENV_BIN / "avatar-stack"), "--record", str(bag), "--say", "x"],
                           capture_output=True, text=True, timeout=60, env=ros_env)
    assert again.returncode == 2 and "exists already" in again.stderr
    out = tmp_path / "report"
    report = subprocess.run([str(VENV_BIN / "au-report"), str(bag), "-o", str(out)], capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0, report.stderr
    labels = [s["label"] for s in json.loads((out / "metrics.json").read_text())["sessions"][0]["segments"]]
    assert "happiness" in labels and "sadness" in labels
