"""au-synth: the installed command, its formats, timelines with falls and micro-expressions, errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from au_animation.retarget import load_retarget
from au_animation.synth_cli import main

AU_SYNTH = Path(sys.executable).parent / "au-synth"


def rows_of(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_installed_command_held_emotion_rises_and_holds() -> None:
    proc = subprocess.run([str(AU_SYNTH), "--emotion", "happiness=0.8", "--duration", "3", "--fps", "30",
                           "--no-life"], capture_output=True, text=True, timeout=60, check=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 90 and rows[1]["t"] == pytest.approx(1 / 30, abs=1e-6)
    smile = [r["curves"]["AU12"] for r in rows]
    assert smile[0] < 0.05 and max(smile) > 0.55 and smile[-1] > 0.5  # rises, holds to the end
    assert all(0.0 <= v <= 1.0 for r in rows for v in r["curves"].values())


def test_help_lists_the_options() -> None:
    proc = subprocess.run([str(AU_SYNTH), "--help"], capture_output=True, text=True, timeout=60, check=True)
    for option in ("--emotion", "--timeline", "--duration", "--fps", "--mode", "--profile", "--curves", "--format"):
        assert option in proc.stdout


def test_timeline_falls_and_scripts_a_micro_expression(tmp_path, capsys) -> None:
    timeline = tmp_path / "t.jsonl"
    timeline.write_text("\n".join([
        "# polite smile, a flash of disgust, then neutral",
        json.dumps({"t": 0.0, "weights": {"happiness": 0.6}}),
        json.dumps({"t": 2.0, "weights": {"happiness": 0.6}, "micro_expression": "disgust", "micro_intensity": 0.8}),
        json.dumps({"t": 3.0, "weights": {}}),
    ]) + "\n")
    assert main(["--timeline", str(timeline), "--duration", "6", "--no-life"]) == 0
    rows = rows_of(capsys)
    smile = [r["curves"]["AU12"] for r in rows]
    nose = [r["curves"]["AU09"] for r in rows]
    assert max(smile[:180]) > 0.4 and smile[-1] < 0.01  # rises, then falls after t=3
    flash = [r["t"] for r in rows if r["curves"]["AU09"] > 0.02]
    assert max(nose) > 0.2 and flash and flash[0] >= 2.0 and flash[-1] - flash[0] < 0.5


@pytest.mark.parametrize("curves", ["arkit", "metahuman"])
def test_retargeted_csv_has_the_map_columns(curves, capsys) -> None:
    assert main(["--emotion", "contempt=1", "--duration", "2", "--curves", curves, "--format", "csv",
                 "--no-life"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    names = load_retarget(curves).names  # then the head / eye columns (test_gaze_cli.py)
    assert tuple(table[0][1:1 + len(names)]) == names and len(table) == 121
    last = dict(zip(table[0], map(float, table[-1]), strict=True))
    right, left = (("mouthSmileRight", "mouthSmileLeft") if curves == "arkit"
                   else ("CTRL_expressions_mouthCornerPullR", "CTRL_expressions_mouthCornerPullL"))
    assert last[right] > 0.2 and last[left] == 0.0


def test_static_mode_and_determinism(capsys) -> None:
    args = ["--emotion", "surprise=0.9", "--duration", "1", "--fps", "20"]
    main([*args, "--mode", "static"])
    static = rows_of(capsys)
    assert all(r["curves"] == static[0]["curves"] for r in static) and static[0]["curves"]["AU26"] > 0.4
    main([*args, "--seed", "4"])
    first = capsys.readouterr().out
    main([*args, "--seed", "4"])
    assert capsys.readouterr().out == first


def test_bad_input_is_one_clear_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 0, "weights": {"happiness": 1}}\n{"t": "soon"}\n')
    assert main(["--timeline", str(bad)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
    assert main(["--emotion", "joyous=1", "--duration", "0.1"]) == 0  # runs, but says what it dropped
    assert "unknown label 'joyous' dropped" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--emotion", "happiness"])
    with pytest.raises(SystemExit):
        main(["--emotion", "happiness=1", "--fps", "0"])
