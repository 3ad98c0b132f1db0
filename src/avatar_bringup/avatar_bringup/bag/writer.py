"""Write rosbag2 bags: MCAP files through rosbags' storage writer, split by size or duration.

rosbags' own Writer produces one file per bag and keeps every chunk of a killed process in an
unflushed buffer. This wrapper keeps its MCAP record format (what `ros2 bag`, Foxglove and rosbags
read) and adds what a recorder needs: files `<bag>_<i>.mcap` split by size or duration (rosbag2's
naming), a chunk closed and flushed to the OS at least every `chunk_s` seconds of log time (so a
recorder killed with SIGKILL leaves whole chunks on disk, readable after `avatar-bag reindex`),
topics added at any time, and one metadata.yaml (rosbag2 version 9) listing every file.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinition, MessageDefinitionFormat, Qos
from rosbags.rosbag2.enums import CompressionMode
from rosbags.rosbag2.metadata import dump_qos_v9
from rosbags.rosbag2.storage_mcap import McapWriter
from ruamel.yaml import YAML

from avatar_bringup.bag import types
from avatar_bringup.bag.errors import BagError

BAG_VERSION = 9
MAX_CHUNK_BYTES = 1 << 20  # rosbags closes a chunk at 1 MiB itself


@dataclass(frozen=True)
class SplitPolicy:
    """When to start the next file: after `max_bytes` or `max_seconds` of log time (0 = never)."""

    max_bytes: int = 0
    max_seconds: float = 0.0

    def due(self, size: int, first_ns: int, now_ns: int) -> bool:
        if self.max_bytes and size >= self.max_bytes:
            return True
        return bool(self.max_seconds) and first_ns >= 0 and now_ns - first_ns >= self.max_seconds * 1e9


class McapFile(McapWriter):
    """rosbags' MCAP storage writing the file `path`, flushing every closed chunk to the OS."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            raise BagError(f"{path} exists already")
        scratch = Path(tempfile.mkdtemp(prefix=".open-", dir=path.parent))
        try:
            super().__init__(scratch, CompressionMode.NONE)  # rosbags names the file after the folder
            self.path.rename(path)  # the open file moves with its name
        finally:
            with contextlib.suppress(OSError):
                scratch.rmdir()
        self.path = path

    def close_chunk(self) -> None:
        super().close_chunk()
        self.bio.flush()


@dataclass
class _File:
    storage: McapFile
    first_ns: int = -1
    last_ns: int = -1
    chunk_first_ns: int = -1
    counts: dict[int, int] = field(default_factory=dict)


def qos_yaml(profiles: Sequence[Qos]) -> str:
    """offered_qos_profiles as rosbag2 stores them in MCAP channel metadata (YAML text)."""
    stream = StringIO()
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    yaml.dump(dump_qos_v9(list(profiles)), stream)
    return stream.getvalue().strip()


class BagWriter:
    """A rosbag2 bag being written. `add_topic()` (any time), `write()`, `close()`.

    Args:
        path: bag folder to create (must not exist).
        split: file split policy.
        chunk_s: close (and flush) the current chunk once it holds this much log time.
        custom_data: string pairs for metadata.yaml's custom_data (e.g. the synthesizer parameters).
    """

    def __init__(self, path: Path | str, split: SplitPolicy | None = None, chunk_s: float = 1.0,
                 custom_data: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already (choose a new output folder)")
        try:
            self.path.mkdir(parents=True)
        except OSError as exc:
            raise BagError(f"cannot create {self.path}: {exc.strerror}") from None
        self.split = split or SplitPolicy()
        self.chunk_ns = int(chunk_s * 1e9)
        self.custom_data = dict(custom_data or {})
        self.connections: dict[str, Connection] = {}
        self.counts: dict[int, int] = {}
        self.files: list[dict] = []
        self.bytes_written = 0
        self._file = self._open_file()

    # -- topics and messages ------------------------------------------------------------------------
    def add_topic(self, topic: str, msgtype: str, qos: Sequence[Qos] = (), msgdef: str | None = None,
                  rihs01: str | None = None) -> Connection:
        """Register a topic; its type's full definition comes from `types` unless given."""
        if topic in self.connections:
            return self.connections[topic]
        name = types.normalize(msgtype)
        if msgdef is None or rihs01 is None:
            msgdef, rihs01 = types.definition(name)
        fmt = MessageDefinitionFormat.IDL if msgdef.startswith("=" * 80 + "\nIDL: ") else MessageDefinitionFormat.MSG
        conn = Connection(id=len(self.connections) + 1, topic=topic, msgtype=name,
                          msgdef=MessageDefinition(fmt, msgdef), digest=rihs01, msgcount=0,
                          ext=ConnectionExtRosbag2(serialization_format="cdr", offered_qos_profiles=list(qos)),
                          owner=self)
        self.connections[topic] = conn
        self.counts[conn.id] = 0
        self._declare(self._file, conn)
        return conn

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Append one serialized (CDR) message with its log time in nanoseconds."""
        conn = self.connections[topic]
        current = self._file
        if current.first_ns >= 0 and self.split.due(current.storage.bio.tell(), current.first_ns, timestamp_ns):
            self._finish_file()
            self._file = current = self._open_file()
            for known in self.connections.values():
                self._declare(current, known)
        if current.first_ns < 0:
            current.first_ns = timestamp_ns
        current.last_ns = max(current.last_ns, timestamp_ns)
        if current.chunk_first_ns < 0:
            current.chunk_first_ns = timestamp_ns
        current.storage.write(conn, timestamp_ns, data)
        current.counts[conn.id] = current.counts.get(conn.id, 0) + 1
        self.counts[conn.id] += 1
        self.bytes_written += len(data)
        if current.storage.chunk.bio.tell() == 0:  # rosbags closed a full chunk itself
            current.chunk_first_ns = -1
        elif timestamp_ns - current.chunk_first_ns >= self.chunk_ns:
            current.storage.close_chunk()
            current.chunk_first_ns = -1

    def flush(self) -> None:
        """Close and flush the pending chunk now (a recorder calls this when its topics go quiet)."""
        if self._file is not None and self._file.storage.chunk.bio.tell():
            self._file.storage.close_chunk()
            self._file.chunk_first_ns = -1

    @property
    def message_count(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        """Finish the open file (summary, footer) and write metadata.yaml."""
        if self._file is None:
            return
        self._finish_file()
        self._file = None
        write_metadata(self.path, list(self.connections.values()), self.counts, self.files, self.custom_data)

    # -- internals ----------------------------------------------------------------------------------
    def _open_file(self) -> _File:
        return _File(McapFile(self.path / f"{self.path.name}_{len(self.files)}.mcap"))

    def _declare(self, file: _File, conn: Connection) -> None:
        storage = file.storage
        if all(schema.name != conn.msgtype for schema in storage.schemas):
            storage.add_msgtype(conn)
        storage.add_connection(conn, qos_yaml(conn.ext.offered_qos_profiles))

    def _finish_file(self) -> None:
        file = self._file
        count = sum(file.counts.values())
        start = max(file.first_ns, 0)
        entry = {"path": file.storage.path.name, "starting_time": {"nanoseconds_since_epoch": start},
                 "duration": {"nanoseconds": max(0, file.last_ns - start)}, "message_count": count}
        self.files.append(entry)
        own = {c.id: n for c, n in ((c, file.counts.get(c.id, 0)) for c in self.connections.values())}
        file.storage.close(BAG_VERSION, _dump(bag_info(list(self.connections.values()), own, [entry], None)))


def bag_info(connections: Sequence[Connection], counts: dict[int, int], files: list[dict],
             custom_data: dict[str, str] | None) -> dict:
    """rosbag2's `rosbag2_bagfile_information` (version 9) for these topics, counts and files."""
    starts = [f["starting_time"]["nanoseconds_since_epoch"] for f in files if f["message_count"]]
    ends = [f["starting_time"]["nanoseconds_since_epoch"] + f["duration"]["nanoseconds"]
            for f in files if f["message_count"]]
    start = min(starts) if starts else 0
    info = {
        "version": BAG_VERSION,
        "storage_identifier": "mcap",
        "relative_file_paths": [f["path"] for f in files],
        "duration": {"nanoseconds": (max(ends) - start) if ends else 0},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": sum(counts.values()),
        "topics_with_message_count": [
            {"topic_metadata": {"name": c.topic, "type": c.msgtype, "serialization_format": "cdr",
                                "offered_qos_profiles": dump_qos_v9(list(c.ext.offered_qos_profiles)),
                                "type_description_hash": c.digest},
             "message_count": counts.get(c.id, 0)}
            for c in connections],
        "compression_format": "",
        "compression_mode": "",
        "files": files,
        "custom_data": custom_data or None,
        "ros_distro": "rosbags",
    }
    return info


def _dump(data: dict) -> str:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    stream = StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def write_metadata(path: Path, connections: Sequence[Connection], counts: dict[int, int], files: list[dict],
                   custom_data: dict[str, str] | None = None) -> None:
    """Write `<path>/metadata.yaml` the way rosbag2 (version 9) does, atomically."""
    text = _dump({"rosbag2_bagfile_information": bag_info(connections, counts, files, custom_data)})
    tmp = path / "metadata.yaml.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path / "metadata.yaml")
