"""au-report on a scripted four-emotion session: its numbers against ones computed here independently.

The session is made by the real au-synth command (dynamic and static mode) from a timeline of four
emotions; the report runs as the real au-report command. The test recomputes every number it
checks with plain Python, `statistics` and scipy, from the files themselves.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scipy.stats import entropy

VENV_BIN = Path(sys.executable).parent
SCRIPT = [(0.0, {"happiness": 0.8}), (3.0, {"sadness": 0.7}), (6.0, {"surprise": 0.9}),
          (9.0, {"anger": 0.6, "disgust": 0.2})]
LABELS = ["happiness", "sadness", "surprise", "anger"]
FPS = 60


def run(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / tool), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sessions")
    timeline = folder / "timeline.jsonl"
    timeline.write_text("".join(json.dumps({"t": t, "weights": w}) + "\n" for t, w in SCRIPT))
    out = {}
    for mode in ("dynamic", "static"):
        frames = folder / f"{mode}_frames.jsonl"
        proc = run("au-synth", "--timeline", str(timeline), "--duration", "12", "--mode", mode, "-o", str(frames))
        assert proc.returncode == 0, proc.stderr
        session = folder / f"{mode}.jsonl"
        session.write_text(timeline.read_text() + frames.read_text())
        out[mode] = session
    return out


def frames_of(path: Path) -> list[tuple[float, dict[str, float]]]:
    """AU channels of the frame rows (au-synth also writes head/eye angles, which the report leaves out)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(((r["t"], {n: v for n, v in r["curves"].items() if re.fullmatch(r"AU\d\d[LR]?", n)})
                   for r in rows if "curves" in r), key=lambda r: r[0])


def label_at(t: float) -> str:
    current = "neutral"
    for start, weights in SCRIPT:
        if t >= start:
            current = max(weights, key=weights.get)
    return current


@pytest.fixture(scope="module")
def report(sessions: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("report")
    proc = run("au-report", str(sessions["dynamic"]), str(sessions["static"]), "--names", "dynamic", "static",
               "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, json.loads((out / "metrics.json").read_text())


def test_writes_the_page_and_figures(report: tuple[Path, dict]) -> None:
    import matplotlib.image

    out, _ = report
    page = (out / "report.md").read_text()
    for name in ("energy.png", "regions.png", "temporal.png"):
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 200 and image.shape[1] > 300 and image.std() > 0.01  # a drawn figure
        assert f"]({name})" in page
    assert "| happiness | AU12 (" in page and "Cohen's d" in page


def test_energy_and_top5_per_segment_match_a_recount(report: tuple[Path, dict], sessions: dict[str, Path]) -> None:
    _, metrics = report
    for summary, mode in zip(metrics["sessions"], ("dynamic", "static"), strict=True):
        frames = frames_of(sessions[mode])
        totals: dict[str, float] = {}
        for _, curves in frames:
            for name, value in curves.items():
                totals[name] = totals.get(name, 0.0) + value
        assert summary["energy"] == pytest.approx(totals, rel=1e-9)
        assert summary["frames"] == len(frames) == 12 * FPS
        assert [s["label"] for s in summary["segments"]] == LABELS
        for label in LABELS:
            per_au: dict[str, float] = {}
            for t, curves in frames:
                if label_at(t) == label:
                    for name, value in curves.items():
                        per_au[name] = per_au.get(name, 0.0) + value
            expected = sorted(((n, e) for n, e in per_au.items() if e > 0), key=lambda kv: -kv[1])[:5]
            got = summary["per_emotion"][label]
            assert [n for n, _ in got] == [n for n, _ in expected], (mode, label)
            assert [e for _, e in got] == pytest.approx([e for _, e in expected], rel=1e-9)
    dynamic = metrics["sessions"][0]["per_emotion"]
    assert dynamic["happiness"][0][0] == "AU12" and dynamic["sadness"][0][0] == "AU01"


def test_smoothness_spread_and_effect_sizes_match_a_recount(report: tuple[Path, dict],
                                                            sessions: dict[str, Path]) -> None:
    _, metrics = report
    series = {}
    for summary, mode in zip(metrics["sessions"], ("dynamic", "static"), strict=True):
        frames = frames_of(sessions[mode])
        names = list(frames[0][1])
        dt = 1 / FPS
        squares = [((c[i + 3][1][n] - 3 * c[i + 2][1][n] + 3 * c[i + 1][1][n] - c[i][1][n]) / dt**3) ** 2
                   for c in [frames] for i in range(len(frames) - 3) for n in names]
        assert summary["jerk"] == pytest.approx(statistics.fmean(squares), rel=1e-3)  # dt from rounded stamps
        energies = [sum(curves[n] for _, curves in frames) for n in names]
        assert summary["entropy_bits"] == pytest.approx(entropy(energies, base=2), rel=1e-9)
        assert summary["entropy_norm"] == pytest.approx(entropy(energies, base=2) / math.log2(len(names)))
        series[mode] = {n: [curves[n] for _, curves in frames] for n in names}
    assert metrics["sessions"][0]["jerk"] < metrics["sessions"][1]["jerk"]  # the static face jumps
    for name, d in metrics["cohens_d"].items():
        a, b = series["dynamic"][name], series["static"][name]
        pooled = math.sqrt(((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b))
                           / (len(a) + len(b) - 2))
        if pooled == 0:
            continue
        assert d == pytest.approx((statistics.fmean(a) - statistics.fmean(b)) / pooled, rel=1e-6), name


def test_region_activation_follows_the_region_table(report: tuple[Path, dict], sessions: dict[str, Path]) -> None:
    from importlib.resources import files

    table = yaml.safe_load((files("au_animation") / "data" / "face_regions.yaml").read_text())
    _, metrics = report
    frames = frames_of(sessions["dynamic"])
    expected = dict.fromkeys(table["regions"], 0.0)
    for name in frames[0][1]:
        bare = name[:4]
        region = next((r for r, spec in table["regions"].items() if bare in spec["aus"]), None)
        if region:
            expected[region] += sum(curves[name] for _, curves in frames) / len(frames)
    assert metrics["sessions"][0]["regions"] == pytest.approx(expected, rel=1e-9)


def test_a_bag_gives_the_same_numbers_as_its_jsonl(tmp_path: Path, sessions: dict[str, Path]) -> None:
    """A bag written with rosbags' own Writer (not ours): AU frames and fused estimates."""
    import numpy as np
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    share = Path(sys.prefix) / "share" / "avatar_msgs" / "msg"
    for name in ("ActionUnits", "EmotionState"):
        store.register(get_types_from_msg((share / f"{name}.msg").read_text(), f"avatar_msgs/msg/{name}"))
    au_t, emo_t = store.types["avatar_msgs/msg/ActionUnits"], store.types["avatar_msgs/msg/EmotionState"]
    header, time_t = store.types["std_msgs/msg/Header"], store.types["builtin_interfaces/msg/Time"]
    frames = frames_of(sessions["dynamic"])
    base = 50 * 10**9
    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        au = writer.add_connection("/avatar/face/action_units", au_t.__msgtype__, typestore=store)
        fused = writer.add_connection("/avatar/affect/fused", emo_t.__msgtype__, typestore=store)
        for t, weights in SCRIPT:
            ns = base + round(t * 1e9)
            msg = emo_t(header=header(stamp=time_t(sec=ns // 10**9, nanosec=ns % 10**9), frame_id=""),
                        source="fused", labels=list(weights),
                        weights=np.array(list(weights.values()), dtype=np.float32),
                        valence=0.0, arousal=0.0, confidence=1.0, utterance_id="", micro_expression="",
                        micro_intensity=0.0)
            writer.write(fused, ns, store.serialize_cdr(msg, emo_t.__msgtype__))
        for t, curves in frames:
            ns = base + round(t * 1e9)
            msg = au_t(header=header(stamp=time_t(sec=ns // 10**9, nanosec=ns % 10**9), frame_id=""),
                       names=list(curves), intensities=np.array(list(curves.values()), dtype=np.float32))
            writer.write(au, ns, store.serialize_cdr(msg, au_t.__msgtype__))
    out = tmp_path / "report"
    proc = run("au-report", str(bag), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "metrics.json").read_text())["sessions"][0]
    assert [s["label"] for s in summary["segments"]] == LABELS
    totals = {n: sum(c[n] for _, c in frames) for n in frames[0][1]}
    assert summary["energy"] == pytest.approx(totals, rel=1e-5)  # float32 on the wire


def test_bad_input_is_one_error_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("{not json\n")
    not_a_bag = tmp_path / "folder"
    not_a_bag.mkdir()
    for args in ([str(tmp_path / "missing.jsonl")], [str(empty)], [str(garbage)], [str(not_a_bag)],
                 [str(empty), str(empty), str(empty)]):
        proc = run("au-report", *args, "-o", str(tmp_path / "out"))
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("au-report: error: "), (args, proc.stderr)


def test_a_flickering_dominant_label_joins_the_segment_before_it() -> None:
    import numpy as np
    from au_animation.report.analysis import frame_labels, segments
    from au_animation.report.session import Session

    t = np.arange(0, 6.0, 1 / 60)
    # sadness from 1 s, a 0.1 s flicker to fear at 2 s, fear for good from 4 s; a 0.05 s blip at the start
    emotions = [(0.0, {"happiness": 0.6}), (0.05, {"neutral": 0.9}), (1.0, {"sadness": 0.6}),
                (2.0, {"fear": 0.61, "sadness": 0.6}), (2.1, {"sadness": 0.6}), (4.0, {"fear": 0.8})]
    session = Session("s", t, ["AU01"], np.zeros((len(t), 1)), emotions)
    raw = [s.label for s in segments(frame_labels(session))]
    assert raw == ["happiness", "neutral", "sadness", "fear", "sadness", "fear"]
    merged = segments(frame_labels(session, min_segment_s=0.5))
    assert [s.label for s in merged] == ["neutral", "sadness", "fear"]
    assert merged[-1].start == int(np.searchsorted(t, 4.0))  # the lasting change keeps its frame
