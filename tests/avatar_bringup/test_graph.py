"""The graph definition: validation, profiles, precedence, clear errors (pure, no rclpy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from avatar_bringup.graph import GraphError, default_definition_path, describe, load_definition, resolve

VENV_BIN = Path(sys.executable).parent


def test_shipped_definition_is_valid_and_every_profile_resolves() -> None:
    definition = load_definition()
    assert set(definition.profiles) >= {"desktop", "unreal", "robot_head"}
    for profile in definition.profiles:
        graph = resolve(profile)
        assert graph.nodes, profile
        assert {"text_affect", "emotion_fusion", "expression_synthesizer"} <= {n.name for n in graph.nodes}


def test_inputs_switch_nodes_on() -> None:
    names = {n.name for n in resolve("desktop").nodes}
    assert "audio_capture" not in names and "camera" not in names
    graph = resolve("desktop", {"audio": "talk.wav", "camera": "0"})
    names = {n.name for n in graph.nodes}
    assert {"audio_capture", "speech_recognizer", "camera", "face_emotion"} <= names
    capture = next(n for n in graph.nodes if n.name == "audio_capture")
    assert capture.parameters["source"] == "talk.wav"


def test_off_switches_inputs_and_outputs_off() -> None:
    from au_animation.bridges.pipeline import BridgeConfig, BridgeSet

    graph = resolve("unreal", {"camera": "off", "audio": "OFF", "osc": "off", "livelink": "off"})
    names = {n.name for n in graph.nodes}
    assert not names & {"camera", "face_emotion", "audio_capture", "speech_recognizer"}
    bridge = next(n for n in graph.nodes if n.name == "face_bridge").parameters
    targets = {k: bridge[k] for k in ("osc", "livelink", "maestro")}
    bridges = BridgeSet(BridgeConfig(**targets))
    assert bridges.osc is None and bridges.livelink is None and bridges.maestro is None
    assert resolve("unreal").arguments["osc"] == "127.0.0.1:8000"  # the profile's value when not switched off


def test_parameter_precedence(tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"shared": 1}},
        "expression_synthesizer": {"ros__parameters": {"rate_hz": 30.0}},
    }))
    graph = resolve("robot_head", params_file=params, use_sim_time=True)
    synth = next(n for n in graph.nodes if n.name == "expression_synthesizer")
    assert synth.parameters["profile"] == "posed"  # profile over node default
    assert synth.parameters["rate_hz"] == 30.0  # file over profile
    assert synth.parameters["shared"] == 1 and synth.parameters["use_sim_time"] is True
    assert "rate_hz = 30.0" in describe(graph)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"profile": "nope"}, "unknown profile 'nope'"),
    ({"arguments": {"microphone": "x"}}, "unknown argument 'microphone'"),
    ({"namespace": "/Bad Name"}, "invalid namespace"),
    ({"params_file": "/no/such/file.yaml"}, "cannot read parameter file"),
])
def test_wrong_input_is_one_clear_error(kwargs: dict, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        resolve(**kwargs)


@pytest.mark.parametrize("content", ["just a string", "node: {rate_hz: 3}", "a: [1, 2", "- 1\n- 2"])
def test_malformed_parameter_files(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    with pytest.raises(GraphError, match="parameter file"):
        resolve(params_file=bad)


def test_broken_definitions_are_rejected(tmp_path: Path) -> None:
    raw = yaml.safe_load(default_definition_path().read_text())
    raw["profiles"]["desktop"]["nodes"].append("ghost")
    bad = tmp_path / "graph.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(GraphError, match="unknown node 'ghost'"):
        load_definition(bad)
    bad.write_text("schema_version: 7\nnodes: {}\nprofiles: {}\n")
    with pytest.raises(GraphError, match="invalid graph definition"):
        load_definition(bad)


def test_only_and_without_run_part_of_the_profile() -> None:
    names = [n.name for n in resolve("unreal", {"camera": "0"}, only=["camera", "face_emotion"]).nodes]
    assert names == ["camera", "face_emotion"]
    names = [n.name for n in resolve("unreal", only=["text_affect", "face_bridge"], without=["face_bridge"]).nodes]
    assert names == ["text_affect"]
    full = resolve("desktop")
    part = resolve("desktop", without=["dashboard", "text_affect"])
    assert [n for n in full.nodes if n.name not in ("dashboard", "text_affect")] == list(part.nodes)
    with pytest.raises(GraphError, match="only: 'face_bridge' not in profile 'desktop'"):
        resolve("desktop", only=["face_bridge"])
    with pytest.raises(GraphError, match="no node of profile 'desktop' left"):
        resolve("desktop", only=["camera"])  # in the profile, but the camera input is off


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2")
    for args in (["--profile", "nope"], ["--params-file", str(bad)], ["--list", "--namespace", "9x"],
                 ["--list", "--only", "text_affect,ghost"], ["--processes", "--without", "camera,nope"]):
        proc = subprocess.run([VENV_BIN / "avatar-stack", *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, args
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("avatar-stack: error:"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_cli_list_prints_the_graph() -> None:
    proc = subprocess.run([VENV_BIN / "avatar-stack", "--list", "--profile", "unreal"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert "profile unreal, namespace /avatar" in proc.stdout
    for node in ("text_affect", "emotion_fusion", "expression_synthesizer", "face_bridge"):
        assert f"/avatar/{node}" in proc.stdout
    assert "osc = '127.0.0.1:8000'" in proc.stdout
    proc = subprocess.run([VENV_BIN / "avatar-stack", "--list", "--only", "text_affect", "--only", "emotion_fusion"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert "2 nodes" in proc.stdout and "/avatar/expression_synthesizer" not in proc.stdout
