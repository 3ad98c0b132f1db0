"""The node contract as a ROS user meets it: parameters through the standard services from another
process, run-time changes that work or are refused with a reason, failed nodes reported on
/diagnostics while the face keeps moving, and quiet logs for absent receivers."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf
from avatar_msgs.msg import ActionUnits
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, ListParameters, SetParameters

pytestmark = pytest.mark.ros
VENV_BIN = Path(sys.executable).parent
NS = "/avatar"
ALL_NODES = ("audio_capture", "speech_recognizer", "text_affect", "camera", "face_emotion", "emotion_fusion",
             "expression_synthesizer", "face_bridge")
BUILT_IN = {"use_sim_time", "start_type_description_service"}  # rclpy's own parameters
NUMERIC = (ParameterType.PARAMETER_DOUBLE, ParameterType.PARAMETER_INTEGER)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def media(tmp_path: Path) -> tuple[Path, Path]:
    """A second of silence and a 20-frame video: enough for every node of the graph to start."""
    wav = tmp_path / "silence.wav"
    sf.write(wav, np.zeros(16000, np.int16), 16000)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(20):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    return wav, video


def call(ros, srv_type, name: str, request, timeout: float = 20.0):
    """One call of a ROS service from the tester node (the caller is this test process)."""
    client = ros.tester.create_client(srv_type, name)
    try:
        ros.spin_until(client.service_is_ready, timeout, f"service {name}")
        future = client.call_async(request)
        ros.spin_until(future.done, timeout, f"reply of {name}")
        return future.result()
    finally:
        ros.tester.destroy_client(client)


def set_param(ros, node: str, name: str, value: object):
    kinds = {str: ("string_value", ParameterType.PARAMETER_STRING),
             float: ("double_value", ParameterType.PARAMETER_DOUBLE),
             int: ("integer_value", ParameterType.PARAMETER_INTEGER)}
    field, kind = kinds[type(value)]
    pv = ParameterValue(type=kind, **{field: value})
    reply = call(ros, SetParameters, f"{NS}/{node}/set_parameters",
                 SetParameters.Request(parameters=[ParameterMsg(name=name, value=pv)]))
    return reply.results[0]


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(VENV_BIN / "avatar-stack"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.stderr.read()


def test_every_parameter_is_described_and_runtime_changes_work_or_are_refused(ros, media) -> None:
    wav, video = media
    proc = spawn("--profile", "unreal", "--audio", str(wav), "--camera", str(video),
                 "--osc", f"127.0.0.1:{free_udp_port()}", "--livelink", f"127.0.0.1:{free_udp_port()}")
    try:
        frames = ros.collect(ActionUnits, f"{NS}/face/action_units")
        ros.wait_for_messages(frames, 30, timeout=90)
        for node in ALL_NODES:
            names = call(ros, ListParameters, f"{NS}/{node}/list_parameters", ListParameters.Request()).result.names
            ours = [n for n in names if n not in BUILT_IN and not n.startswith("qos_overrides.")]
            assert ours, f"{node} declares no parameters"
            described = call(ros, DescribeParameters, f"{NS}/{node}/describe_parameters",
                             DescribeParameters.Request(names=ours)).descriptors
            for d in described:
                assert d.description.strip(), f"{node}.{d.name} has no description"
                if d.type in NUMERIC:
                    assert d.read_only or d.floating_point_range or d.integer_range, f"{node}.{d.name} unranged"

        # the AU stream follows a run-time mode change: dynamic breathes (frames differ), static holds still
        ros.spin_for(0.5)
        del frames[:]
        ros.wait_for_messages(frames, 30, timeout=10)
        assert np.ptp([f.intensities for f in frames[:30]], axis=0).max() > 0.0
        assert set_param(ros, "expression_synthesizer", "mode", "static").successful
        ros.spin_for(0.3)
        del frames[:]
        ros.wait_for_messages(frames, 30, timeout=10)
        assert np.ptp([f.intensities for f in frames[:30]], axis=0).max() == 0.0

        bad_choice = set_param(ros, "expression_synthesizer", "mode", "bogus")
        assert not bad_choice.successful and "bogus" in bad_choice.reason
        out_of_range = set_param(ros, "expression_synthesizer", "intensity", 5.0)
        assert not out_of_range.successful and "range" in out_of_range.reason.lower()
        read_only = set_param(ros, "expression_synthesizer", "rate_hz", 1e9)
        assert not read_only.successful and "read-only" in read_only.reason
        assert set_param(ros, "emotion_fusion", "face_weight", 0.5).successful
        assert not set_param(ros, "emotion_fusion", "face_weight", -1.0).successful
        assert set_param(ros, "face_bridge", "osc_rate_hz", 30).successful  # an int for a float is converted
    finally:
        err = stop(proc)
    assert "Traceback" not in err, err[-2000:]


def _bad_model_params(tmp_path: Path) -> Path:
    path = tmp_path / "bad_model.yaml"
    path.write_text(f"face_emotion:\n  ros__parameters:\n    model: {tmp_path / 'missing.onnx'}\n")
    return path


def test_a_node_whose_model_cannot_load_is_reported_and_the_face_keeps_moving(ros, media, tmp_path) -> None:
    from avatar_bringup.graph import resolve
    from avatar_bringup.stack import Stack

    _, video = media
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    frames = ros.collect(ActionUnits, f"{NS}/face/action_units")
    stack = Stack(resolve("desktop", {"camera": str(video)}, _bad_model_params(tmp_path)),
                  context=ros.context, executor=ros.executor)
    try:
        stack.start()
        assert stack.failed == {"face_emotion": "configure"}

        def face_error() -> bool:
            return any(s.name.endswith("/face_emotion") and s.level in (2, b"\x02") and "missing.onnx" in s.message
                       for a in diagnostics for s in a.status)

        ros.spin_until(face_error, 10, "ERROR diagnostics of face_emotion naming the model")
        del frames[:]
        ros.wait_for_messages(frames, 60, timeout=10)  # the face keeps streaming
    finally:
        stack.shutdown()


def test_strict_exits_with_status_2_and_one_line(media, tmp_path) -> None:
    _, video = media
    proc = spawn("--camera", str(video), "--params-file", str(_bad_model_params(tmp_path)), "--strict")
    try:
        code = proc.wait(timeout=90)
    finally:
        err = stop(proc)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("avatar-stack:")]
    assert len(lines) == 1 and "face_emotion" in lines[0] and "configure" in lines[0], err
    assert "Traceback" not in err


def test_absent_receivers_cost_a_few_log_lines_per_minute(caplog) -> None:
    """Five simulated minutes of a 60 Hz stream to closed OSC and Live Link ports (real sockets, fake clock)."""
    from au_animation.bridges.frames import Frame
    from au_animation.bridges.pipeline import BridgeConfig, BridgeSet

    now = [0.0]
    bridges = BridgeSet(BridgeConfig(osc=f"127.0.0.1:{free_udp_port()}", livelink=f"127.0.0.1:{free_udp_port()}"),
                        clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="au_animation")
    minutes = 5
    for i in range(minutes * 60 * 60):
        now[0] = i / 60.0
        bridges.push(Frame(t=now[0], aus={"AU12": 0.5}, curves={}), now[0])
        bridges.flush(now[0])
    bridges.close()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert bridges.osc.health.errors > minutes * 10 and bridges.livelink.health.errors > minutes * 10
    assert 2 <= len(lines) <= 2 * (minutes + 1), [r.getMessage() for r in lines]
    assert any("more like this" in r.getMessage() for r in lines)  # the count of what was not logged


def test_ros_run_self_activation_checks_its_transitions(ros, tmp_path) -> None:
    """`ros2 run`-style start (the node's own executable): a failed configure is logged, the node stays
    up inactive with ERROR diagnostics, and activate is not attempted."""
    import signal

    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    proc = subprocess.Popen([str(VENV_BIN / "face_emotion"), "--ros-args", "-r", f"__ns:={NS}",
                             "-p", f"model:={tmp_path / 'missing.onnx'}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ros.spin_until(lambda: any(s.name.endswith("/face_emotion") and "missing.onnx" in s.message
                                   for a in diagnostics for s in a.status), 60, "face_emotion's ERROR diagnostics")
        assert proc.poll() is None, "the node must keep running"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "configure failed" in out and "activate" not in out.replace("inactive", ""), out
    assert "Traceback" not in out
