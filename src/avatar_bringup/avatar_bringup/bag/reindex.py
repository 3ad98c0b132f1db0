"""Rebuild a bag's metadata.yaml from its MCAP files, recovering files a killed recorder left open.

Like `ros2 bag reindex`. A file without summary and footer (the recorder was killed) is read
record by record with the `mcap` library up to its first incomplete record, and rewritten as a
complete MCAP file with the same schemas, channels and messages: every chunk the recorder had
flushed survives, the chunk it was filling is lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinition, MessageDefinitionFormat
from rosbags.rosbag2 import ReaderError
from rosbags.rosbag2.metadata import parse_qos
from rosbags.rosbag2.storage_mcap import McapReader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from avatar_bringup.bag.errors import BagError
from avatar_bringup.bag.writer import BAG_VERSION, McapFile, qos_yaml, write_metadata

INDEX_RE = re.compile(r"_(\d+)\.mcap$")
MAGIC = b"\x89MCAP0\r\n"


@dataclass
class Recovered:
    """What reindex did to one file."""

    name: str
    messages: int
    rewritten: bool


def mcap_files(path: Path) -> list[Path]:
    """The bag's MCAP files in recording order (rosbag2's `<name>_<index>.mcap`)."""
    def key(p: Path) -> tuple[int, str]:
        match = INDEX_RE.search(p.name)
        return (int(match[1]) if match else -1, p.name)

    return sorted((p for p in path.glob("*.mcap") if p.is_file()), key=key)


def reindex(path: Path | str, progress: Callable[[str], None] | None = None) -> list[Recovered]:
    """Rewrite damaged MCAP files of the bag at `path` and write its metadata.yaml; BagError if impossible."""
    path = Path(path)
    if not path.is_dir():
        raise BagError(f"{path}: no such bag folder")
    files = mcap_files(path)
    if not files:
        raise BagError(f"{path}: no .mcap files to reindex")
    results, entries = [], []
    connections: dict[tuple[str, str], Connection] = {}
    counts: dict[int, int] = {}
    for file in files:
        reader, rewritten = _open_or_recover(file)
        try:
            meta = reader.metadata
            entries.append({"path": file.name,
                            "starting_time": {"nanoseconds_since_epoch": meta.start_time if meta.message_count else 0},
                            "duration": {"nanoseconds": max(0, meta.duration - 1)},
                            "message_count": meta.message_count})
            for conn in reader.connections:
                key = (conn.topic, conn.msgtype)
                if key not in connections:
                    connections[key] = conn._replace(id=len(connections) + 1, digest=_rihs01(conn))
                merged = connections[key]
                counts[merged.id] = counts.get(merged.id, 0) + conn.msgcount
            results.append(Recovered(file.name, meta.message_count, rewritten))
        finally:
            reader.close()
        if progress:
            progress(f"{file.name}: {meta.message_count} messages" + (" (recovered)" if rewritten else ""))
    write_metadata(path, list(connections.values()), counts, entries)
    return results


def _open_or_recover(file: Path) -> tuple[McapReader, bool]:
    reader = McapReader(file)
    try:
        reader.open()
        return reader, False
    except ReaderError:
        pass
    _recover(file)
    reader = McapReader(file)
    try:
        reader.open()
    except ReaderError as exc:
        raise BagError(f"{file}: cannot be recovered ({exc})") from None
    return reader, True


def _recover(file: Path) -> int:
    """Rewrite `file` with every complete record it holds; return the number of messages kept."""
    schemas: dict[int, Schema] = {}
    channels: dict[int, Connection] = {}
    declared: set[int] = set()
    kept = 0
    target = file.with_name(file.name + ".recovered")
    target.unlink(missing_ok=True)
    with file.open("rb") as stream:
        if stream.read(len(MAGIC)) != MAGIC:
            raise BagError(f"{file}: not an MCAP file (left as it is)")
        stream.seek(0)
        try:
            records = StreamReader(stream, skip_magic=False, emit_chunks=False)
            writer = McapFile(target)
            try:
                for record in records.records:
                    if isinstance(record, Schema):
                        schemas[record.id] = record
                    elif isinstance(record, Channel):
                        channels[record.id] = _connection(record, schemas.get(record.schema_id))
                    elif isinstance(record, Message) and record.channel_id in channels:
                        conn = channels[record.channel_id]
                        if conn.id not in declared:
                            if all(s.name != conn.msgtype for s in writer.schemas):
                                writer.add_msgtype(conn)
                            writer.add_connection(conn, qos_yaml(conn.ext.offered_qos_profiles))
                            declared.add(conn.id)
                        writer.write(conn, record.log_time, record.data)
                        kept += 1
            except (McapError, EOFError, ValueError, OSError, KeyError):
                pass  # the first incomplete record: everything before it is kept
            writer.close(BAG_VERSION, "")
        except McapError as exc:
            target.unlink(missing_ok=True)
            raise BagError(f"{file}: not an MCAP file ({exc})") from None
    target.replace(file)
    return kept


def _connection(channel: Channel, schema: Schema | None) -> Connection:
    if schema is None:
        raise BagError(f"channel {channel.topic} has no schema: not a rosbag2 MCAP file")
    fmt = MessageDefinitionFormat.IDL if schema.encoding == "ros2idl" else MessageDefinitionFormat.MSG
    qos_text = channel.metadata.get("offered_qos_profiles") or "[]"
    try:
        qos = parse_qos(qos_text)
    except (ValueError, KeyError, TypeError, AttributeError):
        qos = []
    return Connection(id=channel.id, topic=channel.topic, msgtype=schema.name,
                      msgdef=MessageDefinition(fmt, schema.data.decode()), digest="", msgcount=0,
                      ext=ConnectionExtRosbag2(channel.message_encoding, qos), owner=None)


def _rihs01(conn: Connection) -> str:
    """The type hash metadata.yaml lists, computed from the definition stored in the file."""
    store = get_typestore(Stores.EMPTY)
    try:
        store.register(get_types_from_msg(conn.msgdef.data, conn.msgtype))
        return store.hash_rihs01(conn.msgtype)
    except Exception:  # a definition rosbags cannot parse (e.g. IDL): the hash is optional
        return ""
