"""Servo maps (AU / blendshape -> channel) and the safety layer every physical output goes through.

A servo map is YAML data (`au_animation/data/servo_maps/*.yaml`, schema below). Each channel's
command, in the map's `units` (microseconds for a Pololu Maestro), is

    target = clamp(neutral + gain * sum(weight_i * input_i), min, max)

Input names are FACS codes ("AU12", "AU12L") or blendshape / curve names ("jawOpen"). As in
au_animation.retarget, one side of an AU is min(1, AU12 + AU12L) and a bilateral code ("AU12") reads
the mean of both sides; AU values are clamped to [0, 1]. Absent inputs are 0.

Safety is enforced by `ServoSafety`, whatever the input does:
- every command lies in [min, max] of its channel;
- consecutive commands of a channel differ by at most `max_slew * min(dt, max_dt)` where dt is the
  time between the two commands (so a burst of frames cannot jump, and a long pause cannot either);
- the first command is the neutral pose; when no input arrived for `timeout` s the targets return to
  neutral (slew-limited); `ramp_to_neutral()` yields the slew-limited steps to neutral (for stop);
- a non-finite input (NaN, inf) leaves that channel's target unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AU_NAME = re.compile(r"^AU(\d{1,2})([LR]?)$")
SCHEMA_VERSION = 1
DEFAULT_MAP = "simple_head"


class JointSpec(BaseModel):
    """ros2_control joint fed by this channel: position = offset + scale * (command - neutral)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    scale: float = 1.0
    offset: float = 0.0


class ServoChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    channel: int = Field(ge=0, le=23)
    neutral: float
    min: float
    max: float
    gain: float
    max_slew: float = Field(gt=0, description="units per second")
    inputs: dict[str, float]
    joint: JointSpec | None = None
    source: str = ""

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("a channel needs at least one input")
        for name, weight in value.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", name):
                raise ValueError(f"bad input name {name!r}")
            if not math.isfinite(weight):
                raise ValueError(f"input {name}: weight must be finite")
        return value

    @model_validator(mode="after")
    def _range(self) -> ServoChannel:
        values = (self.neutral, self.min, self.max, self.gain)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{self.name}: neutral, min, max and gain must be finite")
        if not self.min <= self.neutral <= self.max:
            raise ValueError(f"{self.name}: need min <= neutral <= max, got {self.min}, {self.neutral}, {self.max}")
        return self


class ServoMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int
    name: str
    description: str = ""
    units: str = Field(description="'us' (servo pulse width) or a joint unit such as 'rad'")
    sources: list[str] = Field(min_length=1)
    channels: list[ServoChannel] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ServoMap:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} unsupported (expected {SCHEMA_VERSION})")
        for attr in ("name", "channel"):
            values = [getattr(c, attr) for c in self.channels]
            if len(set(values)) != len(values):
                raise ValueError(f"duplicate channel {attr}s in servo map {self.name}")
        if self.units == "us":
            for c in self.channels:
                if c.min < 0 or c.max > 4095:
                    raise ValueError(f"{c.name}: pulse widths must lie in 0..4095 us")
        return self

    @property
    def uses_blendshapes(self) -> bool:
        return any(not AU_NAME.match(n) for c in self.channels for n in c.inputs)

    def joint_names(self) -> list[str]:
        return [c.joint.name if c.joint else c.name for c in self.channels]

    def joint_positions(self, commands: np.ndarray) -> list[float]:
        """Joint positions (ros2_control units) for commands in map units."""
        out = []
        for c, value in zip(self.channels, commands, strict=True):
            scale, offset = (c.joint.scale, c.joint.offset) if c.joint else (1.0, 0.0)
            out.append(float(offset + scale * (value - c.neutral)))
        return out


def builtin_maps() -> list[str]:
    folder = resources.files("au_animation") / "data" / "servo_maps"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_servo_map(spec: str = "") -> ServoMap:
    """A map by file path, or by the name of a packaged map ('' = the example simple_head)."""
    spec = spec or DEFAULT_MAP
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        text = path.read_text()
    else:
        resource = resources.files("au_animation") / "data" / "servo_maps" / f"{spec}.yaml"
        if not resource.is_file():
            raise FileNotFoundError(f"servo map {spec!r}: no such file, packaged maps: {builtin_maps()}")
        text = resource.read_text()
    return ServoMap.model_validate(yaml.safe_load(text))


def _unit(aus: Mapping[str, float], key: str) -> float:
    value = aus.get(key, 0.0)
    return value if not math.isfinite(value) else min(1.0, max(0.0, value))


def _reader(name: str) -> Callable[[Mapping[str, float], Mapping[str, float]], float]:
    """How to read one input name from (action units, other curves); NaN when an input is NaN.

    Laterality follows au_animation.retarget: one side = min(1, AUn + AUn<side>), a bilateral code
    reads the mean of both sides.
    """
    match = AU_NAME.match(name)
    if not match:
        return lambda aus, curves: curves.get(name, 0.0)
    base = f"AU{int(match.group(1)):02d}"
    side = match.group(2)

    def one_side(aus: Mapping[str, float], suffix: str) -> float:
        total = _unit(aus, base) + _unit(aus, base + suffix)
        return total if not math.isfinite(total) else min(1.0, total)  # min() would swallow a NaN

    if side:
        return lambda aus, curves: one_side(aus, side)
    return lambda aus, curves: 0.5 * (one_side(aus, "L") + one_side(aus, "R"))


class ServoSafety:
    """Turns input frames into safe per-channel commands; see the module docstring for the rules."""

    def __init__(self, servo_map: ServoMap, timeout: float = 0.5, max_dt: float = 0.1) -> None:
        self.map = servo_map
        channels = servo_map.channels
        self.neutral = np.array([c.neutral for c in channels], dtype=np.float64)
        self.low = np.array([c.min for c in channels], dtype=np.float64)
        self.high = np.array([c.max for c in channels], dtype=np.float64)
        self.gain = np.array([c.gain for c in channels], dtype=np.float64)
        self.slew = np.array([c.max_slew for c in channels], dtype=np.float64)
        self._inputs = [[(_reader(n), w) for n, w in c.inputs.items()] for c in channels]
        self.timeout = float(timeout)
        self.max_dt = float(max_dt)
        self.target = self.neutral.copy()
        self.position = self.neutral.copy()
        self.last_input: float | None = None
        self.last_step: float | None = None
        self.timed_out = True
        self.nan_inputs = 0

    def __len__(self) -> int:
        return len(self.neutral)

    def set_input(self, aus: Mapping[str, float], curves: Mapping[str, float], now: float) -> None:
        """New desired pose from one frame (AU intensities and other named curves)."""
        for i, inputs in enumerate(self._inputs):
            total = 0.0
            for read, weight in inputs:
                total += weight * read(aus, curves)
            if not math.isfinite(total):
                self.nan_inputs += 1
                continue  # hold this channel's previous target
            self.target[i] = min(self.high[i], max(self.low[i], self.neutral[i] + self.gain[i] * total))
        self.last_input = now

    def step(self, now: float) -> np.ndarray:
        """The next command (copy): neutral first, then slew-limited moves toward the target."""
        self.timed_out = self.last_input is None or now - self.last_input > self.timeout
        if self.timed_out:
            self.target[:] = self.neutral
        if self.last_step is None:
            self.position[:] = self.neutral
        else:
            dt = min(max(now - self.last_step, 0.0), self.max_dt)
            limit = self.slew * dt
            self.position += np.clip(self.target - self.position, -limit, limit)
            np.clip(self.position, self.low, self.high, out=self.position)
        self.last_step = now
        return self.position.copy()

    def at_neutral(self, tolerance: float = 1e-6) -> bool:
        return bool(np.all(np.abs(self.position - self.neutral) <= tolerance))

    def restart(self) -> np.ndarray:
        """The actuators' pose is unknown (controller reconnected): command neutral now and ramp,
        slew-limited, from there."""
        self.position[:] = self.neutral
        return self.position.copy()

    def release(self) -> None:
        """Forget the input: from the next step on, the targets are neutral (stop)."""
        self.last_input = None

