"""au-synth with look_at events: head and eye columns in degrees, retargeted eye/head curves, bad input."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from au_animation.bridges.livelink import ROTATION_NAMES
from au_animation.engine.gaze import load_gaze_table
from au_animation.retarget import HEAD_GAZE_NAMES
from au_animation.synth_cli import main

LIM = load_gaze_table().limits


def run(capsys, timeline: str, *args: str, tmp_path) -> list[dict]:
    path = tmp_path / "timeline.jsonl"
    path.write_text(timeline)
    assert main(["--timeline", str(path), "--fps", "60", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_look_at_turns_the_gaze_and_null_lets_it_idle(capsys, tmp_path) -> None:
    rows = run(capsys, '{"t": 0.5, "look_at": {"yaw": 25, "pitch": -5}}\n{"t": 2.5, "look_at": null}\n',
               "--duration", "3", "--no-life", tmp_path=tmp_path)
    at = {round(r["t"], 3): r["head_gaze"] for r in rows}
    before, on = at[0.4], at[2.4]
    assert tuple(on) == HEAD_GAZE_NAMES and all(0.0 <= v <= 1.0 for r in rows for v in r["curves"].values())
    drift = load_gaze_table().behaviour.idle.drift  # nobody there yet: straight ahead until a first glance
    assert abs(before["head_yaw"] + before["eye_yaw"]) <= drift + 0.5
    assert on["head_yaw"] + on["eye_yaw"] == pytest.approx(25.0, abs=1.0)
    assert on["head_pitch"] + on["eye_pitch"] == pytest.approx(-5.0, abs=1.0)
    assert on["head_yaw"] > 10.0  # a 25 degree shift brings the head along
    for r in rows:
        c = r["head_gaze"]
        assert LIM.head_yaw[0] <= c["head_yaw"] <= LIM.head_yaw[1] and LIM.eye_yaw[0] <= c["eye_yaw"] <= LIM.eye_yaw[1]


def test_arkit_and_metahuman_carry_eye_look_and_head_rotations(capsys, tmp_path) -> None:
    timeline = '{"t": 0, "look_at": {"yaw": 12, "pitch": 0}}\n'
    rows = run(capsys, timeline, "--duration", "1", "--no-life", "--curves", "arkit", tmp_path=tmp_path)
    last = rows[-1]["curves"]
    assert last["eyeLookOutLeft"] > 0.2 and last["eyeLookInRight"] > 0.2 and last["eyeLookInLeft"] == 0.0
    assert set(ROTATION_NAMES) <= set(last)
    assert abs(last["headYaw"]) < math.radians(60.0)
    rows = run(capsys, timeline, "--duration", "1", "--no-life", "--curves", "metahuman", tmp_path=tmp_path)
    last = rows[-1]["curves"]
    assert last["CTRL_expressions_eyeLookLeftL"] > 0.2 and last["CTRL_expressions_eyeLookRightR"] == 0.0
    assert rows[-1]["head_gaze"]["eye_yaw"] > 4.0


def test_csv_columns_end_with_the_angles(capsys) -> None:
    assert main(["--emotion", "sadness=1", "--duration", "2", "--format", "csv", "--no-life"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert tuple(table[0][-5:]) == HEAD_GAZE_NAMES
    last = dict(zip(table[0], map(float, table[-1]), strict=True))
    assert last["head_pitch"] < -5.0  # sadness lowers the head


@pytest.mark.parametrize("look_at", ['{"yaw": "left"}', '{"pitch": 3}', '[1, 2]', '{"yaw": 1e999}',
                                     '{"yaw": 1, "roll": 2}'])
def test_bad_look_at_is_one_line_and_status_2(capsys, tmp_path, look_at) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(f'{{"t": 0, "look_at": {look_at}}}\n')
    assert main(["--timeline", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "look_at" in err[0] and ":1:" in err[0]


def test_rows_piped_to_the_bridge_carry_the_angles(capsys, tmp_path) -> None:
    from au_animation.bridges.frames import parse_jsonl_row

    rows = run(capsys, '{"t": 0, "look_at": {"yaw": -15, "pitch": 4}}\n', "--duration", "1", "--no-life",
               tmp_path=tmp_path)
    frame = parse_jsonl_row(json.dumps(rows[-1]))
    assert frame.curves["head_yaw"] + frame.curves["eye_yaw"] == pytest.approx(-15.0, abs=0.5)
    assert "AU12" in frame.aus and "head_yaw" not in frame.aus
    with pytest.raises(ValueError, match="head_gaze"):
        parse_jsonl_row('{"t": 0, "curves": {}, "head_gaze": [1, 2]}')
