"""The offline timeline runner and the avatar-fuse CLI (a real process, JSONL read back independently)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from avatar_common.emotion import CANONICAL_LABELS
from emotion_perception.fusion import default_params, parse_event, run_timeline

AVATAR_FUSE = Path(sys.executable).parent / "avatar-fuse"

TIMELINE = [
    {"t": 1.0, "modality": "text", "emotions": {"happiness": 0.9, "surprise": 0.4}, "confidence": 0.9,
     "utterance_id": "u1"},
    *({"t": round(1.5 + i / 30, 4), "modality": "face", "labels": ["happiness", "neutral"], "weights": [0.6, 0.4],
       "confidence": 0.8} for i in range(30)),
    {"t": 4.0, "modality": "text", "emotions": {"sadness": 0.8}, "confidence": 0.9, "utterance_id": "u2"},
]


def events() -> list:
    out = []
    for obj in TIMELINE:
        event, problems = parse_event(obj)
        assert event is not None and problems == []
        out.append(event)
    return out


def test_timeline_records_state_and_publications() -> None:
    records = run_timeline(events(), tail_s=10.0)
    assert [r["event"] for r in records if r["event"] != "tick"] == ["text"] + ["face"] * 30 + ["text"]
    times = [r["t"] for r in records]
    assert times == sorted(times) and times[0] == 1.0 and times[-1] == pytest.approx(14.0)
    first = records[0]
    assert first["publish"] == "first" and first["labels"] == list(CANONICAL_LABELS)
    assert first["weights"][CANONICAL_LABELS.index("happiness")] == pytest.approx(0.9)
    u2 = next(r for r in records if r["utterance_id"] == "u2")
    assert u2["event"] == "text" and u2["publish"] == "utterance"  # published at once, not at the next tick
    sad, happy = CANONICAL_LABELS.index("sadness"), CANONICAL_LABELS.index("happiness")
    assert u2["weights"][sad] > 0.6 and u2["weights"][happy] < 0.3  # the face's smile still co-occurs
    # Steady output: the node would publish at least at publish_rate_hz, and never more than the grid.
    published = [r["t"] for r in records if r["publish"]]
    gaps = [b - a for a, b in itertools.pairwise(published)]
    assert max(gaps) <= 1.0 / default_params().publish_rate_hz + 1e-6
    # The face (half-life 1 s) drops out first, so the words dominate; then everything relaxes.
    at = {round(r["t"], 3): r for r in records if r["event"] == "tick"}
    assert at[7.0]["weights"][happy] < 0.05 < at[7.0]["weights"][sad]
    assert records[-1]["weights"][sad] < u2["weights"][sad] and records[-1]["weights"][0] > 0.5


def test_cli_matches_the_library_and_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    lines = [json.dumps(o) for o in TIMELINE]
    lines.insert(2, "{not json")
    lines.insert(5, json.dumps({"t": "soon", "modality": "face"}))
    lines.append(json.dumps({"t": 4.5, "modality": "text", "labels": ["joy", "zorg"], "weights": [0.7, 0.5],
                             "stamp": 1e12}))
    path.write_text("\n".join(lines) + "\n")
    run = subprocess.run([str(AVATAR_FUSE), str(path), "--tail", "3"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "line 3: invalid JSON" in run.stderr and "line 6: missing or non-numeric 't'" in run.stderr
    assert "unknown label 'zorg'" in run.stderr
    out = [json.loads(line) for line in run.stdout.splitlines()]
    with_bad = [*events(), parse_event(json.loads(lines[-1]))[0]]
    expected = run_timeline(with_bad, tail_s=3.0)
    strip = [{k: v for k, v in r.items() if k != "problems"} for r in expected]
    assert [{k: v for k, v in r.items() if k != "problems"} for r in out] == strip
    last_text = [r for r in out if r["event"] == "text"][-1]
    assert last_text["t"] == 4.5 and "future" in " ".join(last_text["problems"])
    assert last_text["weights"][CANONICAL_LABELS.index("happiness")] > 0.6  # "joy" is an alias

    only = subprocess.run([str(AVATAR_FUSE), str(path), "--published-only"], capture_output=True, text=True,
                          timeout=60)
    assert only.returncode == 0 and 0 < len(only.stdout.splitlines()) < len(out)
    assert all(json.loads(line)["publish"] for line in only.stdout.splitlines())
    strict = subprocess.run([str(AVATAR_FUSE), str(path), "--strict"], capture_output=True, text=True, timeout=60)
    assert strict.returncode == 2 and strict.stdout == ""


def test_cli_help_and_bad_params(tmp_path: Path) -> None:
    helped = subprocess.run([str(AVATAR_FUSE), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "timeline" in helped.stdout
    bad = tmp_path / "p.yaml"
    bad.write_text("schema_version: 1\nmodalities: {}\n")
    run = subprocess.run([str(AVATAR_FUSE), "--params", str(bad)], input="", capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and "bad --params" in run.stderr
