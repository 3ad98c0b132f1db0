"""avatar-bag resynth: affect/fused + speaking flags through the real expression synthesizer under sim time.

Determinism: re-synthesising a re-synthesised bag with its recorded plan and parameters reproduces
its face/action_units exactly (frame count, stamps and serialized values).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from avatar_bringup.bag import reader, types
from avatar_bringup.bag.writer import BagWriter
from bag_support import read_mcap
from rosbags.highlevel import AnyReader

pytestmark = pytest.mark.ros
VENV_BIN = Path(sys.executable).parent
NS = "/avatar"
SCRIPT = [(0.13, ["happiness"], [0.8]), (1.71, ["sadness"], [0.7]), (3.05, ["surprise", "fear"], [0.8, 0.3]),
          (4.52, ["anger"], [0.6])]
BASE_NS = 1_700_000_000 * 10**9


def fused_bytes(labels: list[str], weights: list[float], t_ns: int) -> bytes:
    store = types.typestore()
    types.ensure("avatar_msgs/msg/EmotionState")
    stamp = store.types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9)
    msg = store.types["avatar_msgs/msg/EmotionState"](
        header=store.types["std_msgs/msg/Header"](stamp=stamp, frame_id=""), source="fused", labels=labels,
        weights=np.array(weights, dtype=np.float32), valence=0.0, arousal=0.3, confidence=0.9, utterance_id="",
        micro_expression="", micro_intensity=0.0)
    return store.serialize_cdr(msg, "avatar_msgs/msg/EmotionState")


def bool_bytes(value: bool) -> bytes:
    store = types.typestore()
    return store.serialize_cdr(store.types["std_msgs/msg/Bool"](data=value), "std_msgs/msg/Bool")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A live-like session: estimates and flags at arbitrary (not frame-aligned) times."""
    path = tmp_path_factory.mktemp("resynth") / "live"
    writer = BagWriter(path)
    writer.add_topic(f"{NS}/affect/fused", "avatar_msgs/msg/EmotionState")
    writer.add_topic(f"{NS}/speech/user_speaking", "std_msgs/msg/Bool")
    events = [(BASE_NS + round(t * 1e9), f"{NS}/affect/fused", fused_bytes(lab, w, BASE_NS + round(t * 1e9)))
              for t, lab, w in SCRIPT]
    events += [(BASE_NS + 2_500_000_000, f"{NS}/speech/user_speaking", bool_bytes(True)),
               (BASE_NS + 2_900_000_123, f"{NS}/speech/user_speaking", bool_bytes(False))]
    for stamp, topic, data in sorted(events):
        writer.write(topic, stamp, data)
    writer.close()
    return path


def resynth(src: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "avatar-bag"), "resynth", str(src), "-o", str(out), *args],
                          capture_output=True, text=True, timeout=120)


def frames(path: Path) -> list[tuple[int, bytes]]:
    with AnyReader([path]) as bag:
        conns = [c for c in bag.connections if c.topic == f"{NS}/face/action_units"]
        return [(t, bytes(raw)) for _, t, raw in bag.messages(connections=conns)]


def test_resynthesis_of_a_resynthesised_bag_is_exact(source: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    proc = resynth(source, first, "--set", "seed=7", "--linger", "1.5")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(reader.custom_data(first)["avatar_resynth"])
    assert plan["parameters"] == {"seed": 7} and plan["step_ns"] == 16_666_667
    recorded = frames(first)
    assert len(recorded) == plan["frames"] == (4_520_000_000 - 130_000_000) // 16_666_667 + 1 + 90
    assert [t for t, _ in recorded] == [plan["start_ns"] + k * plan["step_ns"] for k in range(plan["frames"])]
    decoded = [m for t, _, m in read_mcap(first) if t == f"{NS}/face/action_units"]
    happiness = [dict(zip(m.names, m.intensities, strict=True))["AU12"] for m in decoded[:90]]
    assert happiness[0] < 0.05 < max(happiness)  # the face follows the first estimate
    second = tmp_path / "second"
    proc = resynth(first, second)
    assert proc.returncode == 0, proc.stderr
    assert frames(second) == recorded  # frame count, stamps and every serialized value
    assert reader.custom_data(second) == reader.custom_data(first)


def test_other_parameters_give_another_face(source: Path, tmp_path: Path) -> None:
    dynamic, static = tmp_path / "dynamic", tmp_path / "static"
    params = tmp_path / "static.yaml"
    params.write_text("expression_synthesizer:\n  ros__parameters:\n    mode: static\n")
    assert resynth(source, dynamic).returncode == 0
    proc = resynth(dynamic, static, "--params", str(params))
    assert proc.returncode == 0, proc.stderr
    a, b = frames(dynamic), frames(static)
    assert [t for t, _ in a] == [t for t, _ in b] and a != b
    assert json.loads(reader.custom_data(static)["avatar_resynth"])["parameters"] == {"mode": "static"}


def test_bad_resynth_input_is_one_error_line(tmp_path: Path) -> None:
    no_input = tmp_path / "no_input"
    writer = BagWriter(no_input)
    writer.add_topic("/x/face/action_units", "avatar_msgs/msg/ActionUnits")
    writer.close()
    bad_params = tmp_path / "bad.yaml"
    bad_params.write_text("- just a list\n")
    for args in ([str(no_input), "-o", str(tmp_path / "o1")],
                 [str(tmp_path / "missing"), "-o", str(tmp_path / "o2")],
                 [str(no_input), "-o", str(tmp_path / "o3"), "--params", str(bad_params)],
                 [str(no_input), "-o", str(tmp_path / "o4"), "--set", "rate_hz=0"]):
        proc = subprocess.run([str(VENV_BIN / "avatar-bag"), "resynth", *args], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("avatar-bag: error: "), (args, proc.stderr)
