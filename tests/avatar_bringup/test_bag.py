"""Bag files without ROS: writer, split, chunk flushing, reindex of a crashed file, info, bad input.

Every bag written here is read back by two independent readers: rosbags' AnyReader and the
`mcap` library with the mcap-ros2-support decoder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from avatar_bringup.bag import reader, types
from avatar_bringup.bag.errors import BagError
from avatar_bringup.bag.playback import PlaybackClock, parse_remaps
from avatar_bringup.bag.reindex import reindex
from avatar_bringup.bag.writer import SplitPolicy
from bag_support import PERIOD_NS, START_NS, read_mcap, read_rosbags, write_bag

VENV_BIN = Path(sys.executable).parent
def test_split_bag_is_read_by_both_readers(tmp_path: Path) -> None:
    bag = tmp_path / "split"
    write_bag(bag, 300, split=SplitPolicy(max_seconds=2.0)).close()
    assert sorted(p.name for p in bag.glob("*.mcap")) == ["split_0.mcap", "split_1.mcap", "split_2.mcap"]
    for messages in (read_rosbags(bag), read_mcap(bag)):
        assert len(messages) == 300
        assert [t for _, t, _ in messages] == [START_NS + i * PERIOD_NS for i in range(300)]
        assert [round(float(m.intensities[1]) * 1000) for _, _, m in messages] == list(range(300))
        assert list(messages[0][2].names) == ["AU01", "AU12"]
    summary = reader.info(bag)
    assert summary.message_count == 300 and summary.topics[0].msgtype == "avatar_msgs/msg/ActionUnits"
    assert summary.end_ns - summary.start_ns == 299 * PERIOD_NS


def test_split_by_size(tmp_path: Path) -> None:
    bag = tmp_path / "bysize"
    write_bag(bag, 400, split=SplitPolicy(max_bytes=5_000), chunk_s=0.1).close()
    assert len(list(bag.glob("*.mcap"))) > 2
    assert len(read_mcap(bag)) == len(read_rosbags(bag)) == 400


def test_unclosed_bag_keeps_flushed_chunks_after_reindex(tmp_path: Path) -> None:
    """What a SIGKILL leaves (the in-memory chunk and the summary never reach the file)."""
    bag = tmp_path / "crash"
    writer = write_bag(bag, 300, chunk_s=0.5)  # never closed
    with pytest.raises(BagError, match="reindex"):
        reader.info(bag)
    results = reindex(bag)
    # A chunk closes with the message 0.5 s after its first: 31 messages; 9 chunks flushed, the 10th pending.
    assert results[0].rewritten and results[0].messages == 9 * 31
    for messages in (read_rosbags(bag), read_mcap(bag)):
        assert [round(float(m.intensities[1]) * 1000) for _, _, m in messages] == list(range(9 * 31))
    assert writer.message_count == 300


def test_reindex_of_a_closed_bag_reproduces_its_metadata(tmp_path: Path) -> None:
    bag = tmp_path / "ok"
    write_bag(bag, 100, split=SplitPolicy(max_seconds=1.0)).close()
    before = reader.info(bag).to_dict()
    (bag / "metadata.yaml").unlink()
    assert not any(r.rewritten for r in reindex(bag))
    after = reader.info(bag).to_dict()
    assert {k: v for k, v in after.items() if k != "size_bytes"} == {
        k: v for k, v in before.items() if k != "size_bytes"}


def test_custom_types_come_from_the_installed_share_folder() -> None:
    text, digest = types.definition("avatar_msgs/FaceDetections")
    assert text.startswith("std_msgs/Header header\navatar_msgs/FaceDetection[] faces")
    assert "MSG: avatar_msgs/FaceDetection" in text and digest.startswith("RIHS01_")
    share = Path(sys.prefix) / "share" / "avatar_msgs" / "msg" / "FaceDetections.json"
    assert digest in share.read_text()  # the hash rosidl generated for the same type
    with pytest.raises(BagError, match="not found"):
        types.ensure("no_such_pkg/msg/Thing")
    with pytest.raises(BagError, match="unsupported"):
        types.ensure("example_interfaces/srv/AddTwoInts")


def test_playback_clock_and_remaps() -> None:
    clock = PlaybackClock(origin_ns=10_000, wall_origin_ns=500, rate=2.0)
    assert clock.wall_ns(10_000) == 500 and clock.wall_ns(12_000) == 1_500
    assert abs(clock.bag_ns(clock.wall_ns(54_321)) - 54_321) <= 1  # rounding to whole ns
    assert parse_remaps(["a:=/b", "/c:=d"]) == {"/a": "/b", "/c": "/d"}
    with pytest.raises(BagError):
        parse_remaps(["nothing"])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "avatar-bag"), *args], capture_output=True, text=True, timeout=60)


def test_bad_bags_give_one_error_line_and_status_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "metadata.yaml").write_text("hello: [1, 2\n")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a bag")
    truncated = tmp_path / "truncated"
    write_bag(truncated, 200, chunk_s=0.2).close()
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    not_mcap = tmp_path / "not_mcap"
    not_mcap.mkdir()
    (not_mcap / "not_mcap_0.mcap").write_bytes(b"garbage" * 10)
    cases = [("info", str(tmp_path / "missing")), ("info", str(empty)), ("info", str(foreign)),
             ("info", str(text_file)), ("info", str(truncated)), ("play", str(truncated)),
             ("reindex", str(empty)), ("reindex", str(not_mcap)), ("play", str(tmp_path / "missing")),
             ("info", str(not_mcap))]
    for args in cases:
        proc = _cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("avatar-bag: error: "), (args, proc.stderr)
    assert "reindex" in _cli("info", str(truncated)).stderr


def test_record_without_topics_is_an_error(tmp_path: Path) -> None:
    proc = _cli("record", "-o", str(tmp_path / "x"))
    assert proc.returncode == 2 and "nothing to record" in proc.stderr
    assert not (tmp_path / "x").exists()
