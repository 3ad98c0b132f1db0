"""avatar-stack runs the graph: in one process with a test executor, and as a command (SIGTERM, avatar-say)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from avatar_msgs.msg import ActionUnits, AffectAnalysis, EmotionState

pytestmark = pytest.mark.ros
VENV_BIN = Path(sys.executable).parent
NS = "/avatar"


def start_stack(ros, profile: str = "desktop"):
    from avatar_bringup.graph import resolve
    from avatar_bringup.stack import Stack

    stack = Stack(resolve(profile), context=ros.context, executor=ros.executor)
    stack.start()
    return stack


def test_desktop_profile_in_process(ros) -> None:
    stack = start_stack(ros)
    try:
        names = {n.get_name() for n in stack.nodes}
        assert {"text_affect", "emotion_fusion", "expression_synthesizer"} <= names
        frames = ros.collect(ActionUnits, f"{NS}/face/action_units")
        ros.wait_for_messages(frames, 30, timeout=20)
        assert all(len(f.names) == len(f.intensities) for f in frames)
    finally:
        stack.shutdown()


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(VENV_BIN / "avatar-stack"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigterm_shuts_down_cleanly_within_2_s(ros) -> None:
    proc = _spawn()
    try:
        frames = ros.collect(ActionUnits, f"{NS}/face/action_units")
        ros.wait_for_messages(frames, 10, timeout=60)  # the stack is up and streaming
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, proc.stderr.read()
    assert took < 2.0, f"shutdown took {took:.2f} s"
    assert "Traceback" not in proc.stderr.read()


def test_avatar_say_reaches_a_running_graph(ros) -> None:
    proc = _spawn()
    try:
        text = ros.collect(EmotionState, f"{NS}/affect/text")
        analyses = ros.collect(AffectAnalysis, f"{NS}/affect/text_analysis")
        frames = ros.collect(ActionUnits, f"{NS}/face/action_units")
        ros.wait_for_messages(frames, 1, timeout=60)
        say = subprocess.run([str(VENV_BIN / "avatar-say"), "I got the job, I'm so happy!", "--id", "t-1"],
                             capture_output=True, text=True, timeout=60)
        assert say.returncode == 0, say.stderr
        ros.wait_for_messages(text, 1, timeout=30)
        ros.wait_for_messages(analyses, 1, timeout=10)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert analyses[0].text == "I got the job, I'm so happy!" and analyses[0].utterance_id == "t-1"
    assert text[0].utterance_id == "t-1" and text[0].source == "text"
    assert dict(zip(text[0].labels, text[0].weights, strict=True))["happiness"] > 0.5


def test_avatar_say_without_a_graph_is_a_clear_error() -> None:
    proc = subprocess.run([str(VENV_BIN / "avatar-say"), "hello", "--wait", "1", "--namespace", "/nobody_here"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "nobody subscribes to /nobody_here/speech/utterance" in proc.stderr and "Traceback" not in proc.stderr
