"""Read rosbag2 bags with rosbags' AnyReader, turning every way a bag can be unusable into a BagError.

Types come from the definitions stored in the bag itself, so reading needs no installed
message packages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection
from rosbags.rosbag2 import ReaderError
from ruamel.yaml import YAML

from avatar_bringup.bag import types
from avatar_bringup.bag.errors import BagError


def check_path(path: Path | str) -> Path:
    """The bag folder, or a BagError saying why `path` is not one (missing, empty, no metadata)."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    if not path.is_dir():
        raise BagError(f"{path}: not a bag folder (a rosbag2 bag is a folder with metadata.yaml)")
    if not (path / "metadata.yaml").is_file():
        if any(path.glob("*.mcap")):
            raise BagError(f"{path}: metadata.yaml is missing (recorder killed?); run: avatar-bag reindex {path}")
        raise BagError(f"{path}: not a bag (no metadata.yaml, no .mcap files)")
    return path


@contextmanager
def open_bag(path: Path | str) -> Iterator[AnyReader]:
    """An open AnyReader on the bag at `path`; BagError (one line) if it cannot be read."""
    path = check_path(path)
    reader = AnyReader([path], default_typestore=types.typestore())
    try:
        reader.open()
    except (AnyReaderError, ReaderError, OSError, KeyError, ValueError, TypeError) as exc:
        hint = f"; try: avatar-bag reindex {path}" if any(path.glob("*.mcap")) else ""
        raise BagError(f"{path}: unreadable bag ({_one_line(exc)}){hint}") from None
    try:
        yield reader
    finally:
        reader.close()


def select(reader: AnyReader, topics: Sequence[str] | None) -> list[Connection]:
    """The reader's connections on `topics` (all when None); BagError naming unknown topics."""
    if not topics:
        return list(reader.connections)
    known = {c.topic for c in reader.connections}
    unknown = [t for t in topics if t not in known]
    if unknown:
        raise BagError(f"topic(s) not in the bag: {', '.join(unknown)} (it has: {', '.join(sorted(known))})")
    return [c for c in reader.connections if c.topic in topics]


@dataclass(frozen=True)
class TopicSummary:
    topic: str
    msgtype: str
    count: int
    qos: str


@dataclass(frozen=True)
class BagInfo:
    path: Path
    files: list[str]
    size_bytes: int
    start_ns: int
    end_ns: int
    message_count: int
    topics: list[TopicSummary]
    custom_data: dict[str, str]

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) * 1e-9

    def to_dict(self) -> dict:
        return {"path": str(self.path), "files": self.files, "size_bytes": self.size_bytes,
                "start_ns": self.start_ns, "end_ns": self.end_ns, "duration_s": round(self.duration_s, 6),
                "message_count": self.message_count, "custom_data": self.custom_data,
                "topics": [t.__dict__ for t in self.topics]}

    def text(self) -> str:
        lines = [f"bag:       {self.path}", f"files:     {', '.join(self.files)}",
                 f"size:      {self.size_bytes / 1e6:.3f} MB", f"duration:  {self.duration_s:.3f} s",
                 f"start:     {self.start_ns * 1e-9:.3f} s", f"messages:  {self.message_count}",
                 "topics:"]
        width = max((len(t.topic) for t in self.topics), default=0)
        for t in self.topics:
            lines.append(f"  {t.topic:<{width}}  {t.count:>8}  {t.msgtype}  [{t.qos}]")
        return "\n".join(lines)


def info(path: Path | str) -> BagInfo:
    """Topics, types, counts, duration and size of the bag at `path`."""
    with open_bag(path) as reader:
        meta = _metadata(Path(path))
        counts: dict[str, int] = {}
        for conn in reader.connections:
            counts[conn.topic] = counts.get(conn.topic, 0) + conn.msgcount
        seen: dict[str, TopicSummary] = {}
        for conn in reader.connections:
            if conn.topic not in seen:
                seen[conn.topic] = TopicSummary(conn.topic, conn.msgtype, counts[conn.topic], _qos_text(conn))
        files = list(meta.get("relative_file_paths") or [])
        size = sum((Path(path) / name).stat().st_size for name in files) + (Path(path) / "metadata.yaml").stat().st_size
        count = reader.message_count
        return BagInfo(Path(path), files, size, reader.start_time if count else 0,
                       reader.end_time - 1 if count else 0, count, sorted(seen.values(), key=lambda t: t.topic),
                       custom_data(path))


def _metadata(path: Path) -> dict:
    """The `rosbag2_bagfile_information` mapping of a bag's metadata.yaml (already validated by the reader)."""
    data = YAML(typ="safe").load((Path(path) / "metadata.yaml").read_text(encoding="utf-8"))
    return data["rosbag2_bagfile_information"]


def custom_data(path: Path | str) -> dict[str, str]:
    """metadata.yaml's custom_data (string pairs: e.g. how a re-synthesised bag was made)."""
    return {str(k): str(v) for k, v in (_metadata(check_path(path)).get("custom_data") or {}).items()}


def _qos_text(conn: Connection) -> str:
    profiles = getattr(conn.ext, "offered_qos_profiles", []) or []
    if not profiles:
        return "qos unknown"
    first = profiles[0]
    return f"{first.reliability.name.lower()}, {first.durability.name.lower()}, {len(profiles)} publisher(s)"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
