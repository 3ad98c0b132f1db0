"""A session for analysis: AU frames and fused-emotion estimates, from a bag or a JSONL file.

Bags: `.../face/action_units` (avatar_msgs/ActionUnits, times from the header stamps, which are the
synthesizer's fixed-rate ticks) and `.../affect/fused` (avatar_msgs/EmotionState, at their log
times: when the face could react). Types come from the definitions stored in the bag.
JSONL: au-synth's frame rows {"t": s, "curves": {AU: value}} and timeline rows
{"t": s, "weights": {label: weight}} in one file, in any order. Only AU channels (AU12, AU12R, ...)
are analysed; other curves (head and eye angles) are left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from au_animation.retarget import parse_au

AU_SUFFIX = "face/action_units"
FUSED_SUFFIX = "affect/fused"


class ReportError(Exception):
    """An input au-report cannot analyse, with the reason (one line)."""


@dataclass
class Session:
    """AU frames `values[i, j]` of channel `names[j]` at `t[i]` seconds, and emotion estimates."""

    name: str
    t: np.ndarray
    names: list[str]
    values: np.ndarray
    emotions: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)

    @property
    def dt(self) -> float:
        """Frame period (median spacing): the synthesizer publishes at a fixed rate."""
        return float(np.median(np.diff(self.t))) if len(self.t) > 1 else 0.0


def load(path: Path | str, name: str | None = None) -> Session:
    """Session from a bag folder or a JSONL file; ReportError if it holds no AU frames."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no such file or bag")
    session = _load_bag(path) if path.is_dir() else _load_jsonl(path)
    session.name = name or path.stem
    if len(session.t) < 4:
        raise ReportError(f"{path}: {len(session.t)} AU frames; at least 4 are needed")
    return session


def _frames(rows: list[tuple[float, dict[str, float]]]) -> tuple[np.ndarray, list[str], np.ndarray]:
    rows.sort(key=lambda r: r[0])
    names: list[str] = []
    for _, curves in rows:  # AU channels only (au-synth also writes head and eye curves in radians)
        names.extend(n for n in curves if n not in names and parse_au(n) is not None)
    values = np.array([[curves.get(n, 0.0) for n in names] for _, curves in rows], dtype=float)
    values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    return np.array([r[0] for r in rows], dtype=float), names, values.reshape(len(rows), len(names))


def _load_jsonl(path: Path) -> Session:
    frames, emotions = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
            t = float(row["t"])
            if "curves" in row:
                frames.append((t, {str(k): float(v) for k, v in row["curves"].items()}))
            elif "weights" in row:
                emotions.append((t, {str(k): float(v) for k, v in (row["weights"] or {}).items()}))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReportError(f"{path}:{number}: not a frame or timeline row ({exc})") from None
    t, names, values = _frames(frames)
    return Session(path.stem, t, names, values, sorted(emotions, key=lambda e: e[0]))


def _load_bag(path: Path) -> Session:
    from rosbags.highlevel import AnyReader, AnyReaderError
    from rosbags.rosbag2 import ReaderError

    frames, emotions = [], []
    try:
        with AnyReader([path]) as reader:
            wanted = [c for c in reader.connections if c.topic.endswith((AU_SUFFIX, FUSED_SUFFIX))]
            if not any(c.topic.endswith(AU_SUFFIX) for c in wanted):
                raise ReportError(f"{path}: the bag has no {AU_SUFFIX} topic")
            for conn, log_ns, raw in reader.messages(connections=wanted):
                msg = reader.deserialize(raw, conn.msgtype)
                if conn.topic.endswith(AU_SUFFIX):
                    t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                    frames.append((t, dict(zip(msg.names, (float(v) for v in msg.intensities), strict=False))))
                else:
                    emotions.append((log_ns * 1e-9, dict(zip(msg.labels, (float(w) for w in msg.weights),
                                                            strict=False))))
            info = {str(k): str(v) for k, v in (reader.readers[0].storage.metadata.custom or {}).items()}
    except (AnyReaderError, ReaderError, OSError, KeyError, ValueError) as exc:
        raise ReportError(f"{path}: unreadable bag ({' '.join(str(exc).split())})") from None
    t, names, values = _frames(frames)
    return Session(path.name, t, names, values, emotions, info)
