"""Input frames for the bridges: AU JSONL rows (au-synth output) and ActionUnits messages.

A frame is a time `t` (seconds) and named values. Names matching FACS codes ("AU12", "AU12R") are
action units, to be retargeted; any other name is a curve already in a target's space (an ARKit
blendshape, a MetaHuman control, a head rotation) and is passed through to targets that know it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from au_animation.bridges.servo import AU_NAME
from au_animation.retarget import HEAD_GAZE_NAMES


@dataclass
class Frame:
    t: float
    aus: dict[str, float] = field(default_factory=dict)
    curves: dict[str, float] = field(default_factory=dict)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan  # a null or a string in the stream is treated like NaN (held / zeroed)
    return float(value)


def split(values: Mapping[str, object], t: float = 0.0) -> Frame:
    """Sort named values into action units (canonical 'AU01' spelling) and other curves."""
    frame = Frame(float(t))
    for name, value in values.items():
        match = AU_NAME.match(name)
        if match:
            frame.aus[f"AU{int(match.group(1)):02d}{match.group(2)}"] = _number(value)
        else:
            frame.curves[name] = _number(value)
    return frame


def parse_jsonl_row(line: str) -> Frame | None:
    """One au-synth row {"t": s, "curves": {name: value}, "head_gaze": {name: deg}} -> Frame; None for blank
    lines. The head/eye angles (optional) join the curves under their names (head_yaw ...).

    Also accepts {"t", "names", "intensities"} (an ActionUnits message dumped as JSON).
    Raises ValueError on malformed rows.
    """
    line = line.strip()
    if not line:
        return None
    row = json.loads(line)
    if not isinstance(row, dict):
        raise ValueError("row is not a JSON object")
    t = row.get("t", 0.0)
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        raise ValueError(f"bad time {t!r}")
    if "curves" in row:
        curves = row["curves"]
        if not isinstance(curves, dict):
            raise ValueError("'curves' must be an object")
        frame = split(curves, t)
        angles = row.get("head_gaze")
        if angles is not None:
            if not isinstance(angles, dict):
                raise ValueError("'head_gaze' must be an object {head_yaw: deg, ...}")
            frame = with_head_gaze(frame, [angles.get(n, 0.0) for n in HEAD_GAZE_NAMES])
        return frame
    if "names" in row and "intensities" in row:
        return from_lists(row["names"], row["intensities"], t)
    raise ValueError("row has no 'curves'")


def with_head_gaze(frame: Frame, angles_deg: Sequence[float]) -> Frame:
    """The frame with head and eye angles (degrees, HEAD_GAZE_NAMES order) added to its curves."""
    frame.curves.update(zip(HEAD_GAZE_NAMES, (_number(v) for v in angles_deg), strict=True))
    return frame


def from_lists(names: list[str], intensities: list[float], t: float) -> Frame:
    """Frame from an ActionUnits message's parallel lists (extra entries of the longer are ignored)."""
    return split(dict(zip(names, intensities, strict=False)), t)
