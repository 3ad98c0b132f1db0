"""`avatar-stack --processes`: the supervisor's restart policy (pure), the node processes' command
lines read back by an independent YAML reader, and the real command: restart of a killed node with a
diagnostics entry, ordered stop on SIGTERM/SIGINT within 5 s with no child left."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import yaml
from avatar_bringup.graph import resolve
from avatar_bringup.processes import BOOTSTRAP_GUARD, child_command, child_environment, write_params
from avatar_bringup.supervisor import EXIT_CONFIG, RestartPolicy, Supervisor, describe_exit
from stack_process import NS, ProcessDiagnostics, ReferenceTicks, StackProcess, alive, gap_limit_s, stream_problems


def test_backoff_doubles_to_a_ceiling_and_a_stable_run_resets_it() -> None:
    policy = RestartPolicy(initial_s=0.5, factor=2.0, max_s=4.0, stable_s=60.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    sup = Supervisor(["a", "b"], policy)
    assert sup.due(0.0) == ["a", "b"]
    sup.started("a", 10, 0.0)
    sup.started("b", 11, 0.0)
    assert sup.due(0.0) == []
    delays = []
    now = 0.0
    for _ in range(4):  # dies at once after every start: the delay grows
        now += 1.0
        delays.append(sup.exited("a", -9, now))
        assert sup.due(now) == [] and sup.due(now + delays[-1]) == ["a"]
        now += delays[-1]
        sup.started("a", 12, now)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert sup.exited("a", 1, now + 61.0) == 0.5  # after a stable minute, back to the first delay
    child = sup.children["a"]
    assert child.restarts == 5 and child.last_exit == "exit status 1"
    level, message, values = sup.status("a", now + 61.0)
    assert level == 2 and "restarting in 0.5 s" in message and values["restarts"] == "5"
    sup.started("a", 13, now + 62.0)
    assert sup.status("a", now + 63.0)[0] == 1  # running again, recently restarted
    assert sup.status("b", now + 63.0) == (0, "running", {"pid": "11", "restarts": "0", "last_exit": "",
                                                          "uptime_s": f"{now + 63.0:.0f}"})


def test_refused_configuration_stays_down_and_stop_is_in_reverse_order() -> None:
    sup = Supervisor(["text_affect", "emotion_fusion", "expression_synthesizer"])
    for pid, name in enumerate(sup.due(0.0)):
        sup.started(name, pid + 1, 0.0)
    assert sup.exited("text_affect", EXIT_CONFIG, 1.0) is None
    assert sup.due(100.0) == [] and "configuration" in sup.status("text_affect", 2.0)[1]
    assert sup.stop_order() == ["expression_synthesizer", "emotion_fusion"]
    assert sup.exited("emotion_fusion", -15, 2.0) is None and sup.due(100.0) == []  # stopping: no restarts
    assert describe_exit(-9) == "signal SIGKILL" and describe_exit(2) == "exit status 2"


def test_child_command_carries_name_namespace_parameters_and_remappings(tmp_path: Path) -> None:
    graph = resolve("unreal", {"camera": "0"}, namespace="/robot/face")
    for spec in graph.nodes:
        params = write_params(spec, tmp_path)
        cmd = child_command(spec, graph.namespace, params, "info", strict=True)
        assert cmd[:5] == [sys.executable, "-m", "avatar_bringup.node_process", spec.plugin, "--strict"]
        ros = cmd[cmd.index("--ros-args") + 1:]
        assert ros[:4] == ["-r", f"__node:={spec.name}", "-r", "__ns:=/robot/face"]
        assert ros[-2:] == ["--log-level", "INFO"]
        if spec.parameters:
            read = yaml.safe_load(Path(ros[ros.index("--params-file") + 1]).read_text())
            assert read == {"/**": {"ros__parameters": spec.parameters}}, spec.name
    camera = next(s for s in graph.nodes if s.name == "camera")
    assert yaml.safe_load((tmp_path / "camera.yaml").read_text())["/**"]["ros__parameters"]["source"] == "0"
    env = child_environment({BOOTSTRAP_GUARD: "1", "LD_LIBRARY_PATH": "/x", "ROS_DOMAIN_ID": "7"})
    assert BOOTSTRAP_GUARD not in env and env["ROS_DOMAIN_ID"] == "7" and env["PYTHONUNBUFFERED"] == "1"
    assert camera.plugin.endswith(":CameraNode")


def _wait_for_children(ros, diag: ProcessDiagnostics, names: list[str], timeout: float = 90.0) -> dict[str, int]:
    ros.spin_until(lambda: all(diag.latest.get(n, {}).get("level") == 0 for n in names), timeout,
                   f"processes {names} running on /diagnostics")
    return {n: diag.pid(n) for n in names}


@pytest.mark.ros
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_killed_node_is_restarted_and_the_stack_stops_in_order(ros, tmp_path: Path, sig: int) -> None:
    from avatar_msgs.msg import ActionUnits

    names = ["text_affect", "emotion_fusion", "expression_synthesizer"]
    diag = ProcessDiagnostics(ros)
    frames = ros.collect(ActionUnits, f"{NS}/face/action_units", depth=500)
    stack = StackProcess(tmp_path, "--without", "dashboard", "--log-level", "info")
    reference = ReferenceTicks(ros)
    try:
        pids = _wait_for_children(ros, diag, names)
        ros.wait_for_messages(frames, 30, timeout=60)
        max_gap_s = gap_limit_s(ros, frames)
        os.kill(pids["emotion_fusion"], signal.SIGKILL)
        ros.spin_until(lambda: diag.latest["emotion_fusion"]["restarts"] == "1"
                       and diag.pid("emotion_fusion") not in (None, pids["emotion_fusion"]), 30,
                       "emotion_fusion restarted")
        new_pid = diag.pid("emotion_fusion")
        assert diag.latest["emotion_fusion"]["last_exit"] == "signal SIGKILL"
        ros.spin_until(lambda: diag.latest["emotion_fusion"]["level"] == 1, 10, "a WARN entry for the restart")
        del frames[:]
        ros.wait_for_messages(frames, 60, timeout=20)
        assert stream_problems(frames, reference, max_gap_s) == []
        children = [*pids.values(), new_pid]
        code, took = stack.terminate(sig)
    finally:
        stack.close()
        reference.close()
    log = stack.log()
    assert code == 0, log[-3000:]
    assert took < 5.0, f"stop took {took:.2f} s"
    assert "node emotion_fusion exited (signal SIGKILL); restart 1 in 0.5 s" in log
    assert not [p for p in children if p != pids["emotion_fusion"] and alive(p)], "a node process outlived the stack"
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.ros
def test_strict_stops_the_stack_when_a_node_process_fails_to_come_up(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(5):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    params = tmp_path / "bad_model.yaml"
    params.write_text(f"face_emotion:\n  ros__parameters:\n    model: {tmp_path / 'missing.onnx'}\n")
    stack = StackProcess(tmp_path, "--strict", "--only", "camera,face_emotion", "--camera", str(video),
                         "--params-file", str(params))
    try:
        code = stack.proc.wait(timeout=120)
    finally:
        stack.close()
    log = stack.log()
    assert code == 2, log[-3000:]
    assert "avatar-stack: error: node face_emotion failed to come up (--strict)" in log
    assert "Traceback" not in log, log[-3000:]
