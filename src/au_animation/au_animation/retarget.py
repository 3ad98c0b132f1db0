"""Retargeting: a FACS Action Unit vector -> the curves a face rig understands.

Two maps ship as data (``au_animation/data/retarget/*.yaml``, validated on load):

- ``arkit``: the 52 Apple ARKit blendshapes, in ARKit / Live Link Face order;
- ``metahuman``: MetaHuman ``CTRL_expressions_*`` curves (every curve the paper names).

Laterality: an AU name may carry a side, "AU12R" (the face's own right side). A bilateral "AU12" drives
both sides; the value of one side is ``min(1, AUn + AUnS)`` (a one-sided AU adds to the bilateral one,
so a contempt smirk stays visible on top of a smile). A `left`/`right` target receives its side, a
`midline` target (browInnerUp, jawOpen) the mean of both sides. Every output is
``clip(sum(weight * side value), 0, 1)``.

Usage::

    rt = load_retarget("arkit")
    weights = rt.apply({"AU06": 0.6, "AU12": 0.8})   # numpy float64 array, len(rt.names), in [0, 1]
    named = rt.apply_dict({"AU12R": 0.3})              # {name: value} for every output name
    fast = rt.bind(("AU01", "AU12", "AU12R"))          # fixed AU layout -> ndarray in, ndarray out
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

MAPS: tuple[str, ...] = ("arkit", "metahuman")
ARKIT_COUNT = 52
_AU_RE = re.compile(r"^AU(\d{1,2})([LR]?)$", re.IGNORECASE)


def parse_au(name: str) -> tuple[str, str] | None:
    """Split an AU name into (bare code "AU07", side "" | "L" | "R"); None if it is not an AU name."""
    match = _AU_RE.match(str(name).strip())
    if match is None:
        return None
    return f"AU{int(match.group(1)):02d}", match.group(2).upper()


class Target(BaseModel):
    """One driven output: a pair of sided shapes or one midline shape, with a weight."""

    model_config = ConfigDict(extra="forbid")
    left: str | None = None
    right: str | None = None
    midline: str | None = None
    weight: float = Field(gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        sided = self.left is not None and self.right is not None
        if sided == (self.midline is not None) or (self.left is None) != (self.right is None):
            raise ValueError("a target is either left+right or midline")
        return self


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1)
    targets: list[Target] = Field(min_length=1)


class RetargetTable(BaseModel):
    """Schema of data/retarget/<name>.yaml."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = Field(ge=1, le=1)
    target: str
    sources: list[str] = Field(min_length=1)
    prefix: str = ""
    names: list[str] | None = None
    curves: list[str] | None = None
    map: dict[str, Entry] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> RetargetTable:
        outputs = self.outputs()
        if len(set(outputs)) != len(outputs):
            raise ValueError("output names are not unique")
        known = set(self.names or self.curves or [])
        for au, entry in self.map.items():
            parsed = parse_au(au)
            if parsed is None or parsed[1] or parsed[0] != au:
                raise ValueError(f"map key {au!r} is not a bare AU code like 'AU06'")
            for target in entry.targets:
                for shape in (target.left, target.right, target.midline):
                    if shape is not None and shape not in known:
                        raise ValueError(f"{au}: target {shape!r} is not an output name")
        return self

    def outputs(self) -> list[str]:
        """The output names in order (prefix applied)."""
        if (self.names is None) == (self.curves is None):
            raise ValueError("give exactly one of `names` or `curves`")
        return [self.prefix + n for n in (self.names or self.curves or [])]


class BoundRetargeter:
    """A retargeter bound to a fixed AU channel layout: ``out = bound(values)`` with one matmul each step.

    ``values`` is a float array in the order of `channels`; the result equals ``apply()`` on the same
    name -> value mapping.
    """

    def __init__(self, parent: Retargeter, channels: Sequence[str]) -> None:
        self.names = parent.names
        self.channels = tuple(channels)
        sides = np.zeros((2 * len(parent.aus), len(self.channels)))
        for j, name in enumerate(self.channels):
            for row in parent.side_rows(name):
                sides[row, j] = 1.0
        self._sides = sides
        self._matrix = parent.matrix

    def __call__(self, values: np.ndarray) -> np.ndarray:
        v = np.clip(np.nan_to_num(np.asarray(values, dtype=float), nan=0.0), 0.0, 1.0)
        side = np.minimum(self._sides @ v, 1.0)
        return np.clip(self._matrix @ side, 0.0, 1.0)


class Retargeter:
    """AU intensities -> output curve weights (see the module docstring for the rules)."""

    def __init__(self, table: RetargetTable) -> None:
        self.target = table.target
        self.names: tuple[str, ...] = tuple(table.outputs())
        self.aus: tuple[str, ...] = tuple(sorted(table.map))
        self.sources: tuple[str, ...] = tuple(table.sources)
        index = {name: i for i, name in enumerate(self.names)}
        n_aus = len(self.aus)
        matrix = np.zeros((len(self.names), 2 * n_aus))
        for i, au in enumerate(self.aus):
            for t in table.map[au].targets:
                if t.midline is not None:
                    matrix[index[table.prefix + t.midline], i] += 0.5 * t.weight
                    matrix[index[table.prefix + t.midline], n_aus + i] += 0.5 * t.weight
                else:
                    matrix[index[table.prefix + str(t.left)], i] += t.weight
                    matrix[index[table.prefix + str(t.right)], n_aus + i] += t.weight
        matrix.flags.writeable = False
        self.matrix = matrix
        self._au_index = {au: i for i, au in enumerate(self.aus)}
        self._rows_cache: dict[str, tuple[int, ...]] = {}

    def side_rows(self, name: str) -> tuple[int, ...]:
        """Rows of the side vector (left block, then right block) an AU name feeds; () if unknown."""
        rows = self._rows_cache.get(name)
        if rows is None:
            parsed = parse_au(name)
            i = self._au_index.get(parsed[0]) if parsed else None
            if parsed is None or i is None:
                rows = ()
            else:
                n = len(self.aus)
                rows = {"": (i, n + i), "L": (i,), "R": (n + i,)}[parsed[1]]
            if len(self._rows_cache) < 4096:  # names come from outside: bound the cache
                self._rows_cache[name] = rows
        return rows

    def apply(self, aus: Mapping[str, float]) -> np.ndarray:
        """Output weights (float64 array in `names` order, each in [0, 1]) for AU name -> intensity.

        Unknown names are ignored; NaN counts as 0, values are clamped to [0, 1] first.
        """
        side = np.zeros(2 * len(self.aus))
        for name, raw in aus.items():
            rows = self.side_rows(name)
            if not rows:
                continue
            try:
                value = float(raw)
            except (TypeError, ValueError):
                continue
            if math.isnan(value):
                continue
            value = min(1.0, max(0.0, value))
            for row in rows:
                side[row] += value
        np.minimum(side, 1.0, out=side)
        return np.clip(self.matrix @ side, 0.0, 1.0)

    def apply_dict(self, aus: Mapping[str, float]) -> dict[str, float]:
        """Like apply(), as {output name: value} for every output name."""
        return dict(zip(self.names, self.apply(aus).tolist(), strict=True))

    def bind(self, channels: Sequence[str]) -> BoundRetargeter:
        """A fast retargeter for a fixed AU layout (e.g. the synthesizer's channels)."""
        return BoundRetargeter(self, channels)


def load_table(name_or_path: str) -> RetargetTable:
    """Load and validate a retarget table: a shipped map name ("arkit", "metahuman") or a YAML path."""
    if name_or_path in MAPS:
        text = (files("au_animation") / "data" / "retarget" / f"{name_or_path}.yaml").read_text()
    elif name_or_path.endswith((".yaml", ".yml")):
        text = Path(name_or_path).read_text()
    else:
        raise ValueError(f"unknown retarget map {name_or_path!r}; choose one of {', '.join(MAPS)} or a .yaml path")
    table = RetargetTable.model_validate(yaml.safe_load(text))
    if table.target == "arkit" and len(table.outputs()) != ARKIT_COUNT:
        raise ValueError(f"the arkit map must list all {ARKIT_COUNT} blendshapes, got {len(table.outputs())}")
    return table


@lru_cache(maxsize=8)
def load_retarget(name: str) -> Retargeter:
    """The Retargeter for a shipped map ("arkit" or "metahuman") or a YAML file; cached (immutable)."""
    return Retargeter(load_table(name))


# -- head and gaze ------------------------------------------------------------------------------------
HEAD_GAZE_NAMES: tuple[str, ...] = ("head_yaw", "head_pitch", "head_roll", "eye_yaw", "eye_pitch")  # degrees


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EyeLookScale(_Frozen):
    out: float = Field(gt=0.0, le=90.0)
    in_: float = Field(alias="in", gt=0.0, le=90.0)
    up: float = Field(gt=0.0, le=90.0)
    down: float = Field(gt=0.0, le=90.0)


class ArkitEye(_Frozen):
    out: str
    in_: str = Field(alias="in")
    up: str
    down: str


class MetahumanEye(_Frozen):
    left: str
    right: str
    up: str
    down: str


class MetahumanEyes(_Frozen):
    prefix: str = ""
    left: MetahumanEye
    right: MetahumanEye


class LiveLinkSlot(_Frozen):
    name: str
    source: str
    sign: float = Field(ge=-1.0, le=1.0)

    @model_validator(mode="after")
    def _source(self) -> LiveLinkSlot:
        if self.source != "none" and self.source not in HEAD_GAZE_NAMES:
            raise ValueError(f"{self.name}: source {self.source!r} is not one of {HEAD_GAZE_NAMES} or 'none'")
        if abs(self.sign) != 1.0:
            raise ValueError(f"{self.name}: sign must be 1 or -1")
        return self


class LiveLinkRotations(_Frozen):
    scale: float = Field(gt=0.0)
    slots: list[LiveLinkSlot] = Field(min_length=9, max_length=9)


class HeadGazeTable(_Frozen):
    """Schema of data/retarget/head_gaze.yaml."""

    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    eye_look: EyeLookScale
    arkit: dict[str, ArkitEye]
    metahuman: MetahumanEyes
    livelink: LiveLinkRotations

    @model_validator(mode="after")
    def _eyes(self) -> HeadGazeTable:
        if set(self.arkit) != {"left", "right"}:
            raise ValueError("arkit: give the shapes of the 'left' and 'right' eye")
        return self


class HeadGazeRetargeter:
    """Head / eye angles (degrees, HEAD_GAZE_NAMES order) -> ARKit eyeLook*, MetaHuman eyeLook*, Live Link
    rotations (see data/retarget/head_gaze.yaml). NaN angles count as 0 (straight ahead)."""

    def __init__(self, table: HeadGazeTable) -> None:
        self.table = table
        a, m = table.arkit, table.metahuman
        self.arkit_names = tuple(n for eye in (a["left"], a["right"]) for n in (eye.out, eye.in_, eye.up, eye.down))
        self.metahuman_names = tuple(m.prefix + n for eye in (m.left, m.right)
                                     for n in (eye.left, eye.right, eye.up, eye.down))
        self.livelink_names = tuple(s.name for s in table.livelink.slots)
        self._slots = [(HEAD_GAZE_NAMES.index(s.source) if s.source != "none" else -1, s.sign * table.livelink.scale)
                       for s in table.livelink.slots]

    @staticmethod
    def _pose(pose: Sequence[float]) -> list[float]:
        return [float(v) if math.isfinite(float(v)) else 0.0 for v in pose]

    def _vertical(self, pitch: float) -> tuple[float, float]:
        s = self.table.eye_look
        return min(1.0, max(0.0, pitch) / s.up), min(1.0, max(0.0, -pitch) / s.down)

    def arkit(self, pose: Sequence[float]) -> list[float]:
        """Eight values in `arkit_names` order: left eye out/in/up/down, right eye out/in/up/down.

        Yaw to the character's left turns the left eye out and the right eye in."""
        p = self._pose(pose)
        s = self.table.eye_look
        to_left, to_right = max(0.0, p[3]), max(0.0, -p[3])
        up, down = self._vertical(p[4])
        return [min(1.0, to_left / s.out), min(1.0, to_right / s.in_), up, down,
                min(1.0, to_right / s.out), min(1.0, to_left / s.in_), up, down]

    def metahuman(self, pose: Sequence[float]) -> list[float]:
        """Eight values in `metahuman_names` order: per eye look left/right/up/down (the character's sides)."""
        p = self._pose(pose)
        s = self.table.eye_look
        up, down = self._vertical(p[4])
        left_eye = [min(1.0, max(0.0, p[3]) / s.out), min(1.0, max(0.0, -p[3]) / s.in_), up, down]
        right_eye = [min(1.0, max(0.0, p[3]) / s.in_), min(1.0, max(0.0, -p[3]) / s.out), up, down]
        return left_eye + right_eye

    def livelink(self, pose: Sequence[float]) -> list[float]:
        """The nine Live Link Face rotation slots (radians, ARKit signs)."""
        p = self._pose(pose)
        return [p[i] * k if i >= 0 else 0.0 for i, k in self._slots]

    def curves(self, pose: Sequence[float]) -> dict[str, float]:
        """Every retargeted value by name (for frames that carry the angles)."""
        out = dict(zip(self.arkit_names, self.arkit(pose), strict=True))
        out.update(zip(self.metahuman_names, self.metahuman(pose), strict=True))
        out.update(zip(self.livelink_names, self.livelink(pose), strict=True))
        return out


def head_gaze_pose(curves: Mapping[str, float]) -> list[float] | None:
    """The five angles from a frame's named curves, or None when the frame carries none of them."""
    if not any(name in curves for name in HEAD_GAZE_NAMES):
        return None
    return [float(curves.get(name, 0.0)) for name in HEAD_GAZE_NAMES]


@lru_cache(maxsize=1)
def load_head_gaze() -> HeadGazeRetargeter:
    """The packaged head/gaze retargeting (cached)."""
    text = (files("au_animation") / "data" / "retarget" / "head_gaze.yaml").read_text()
    return HeadGazeRetargeter(HeadGazeTable.model_validate(yaml.safe_load(text)))
