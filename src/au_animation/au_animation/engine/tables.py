"""The engine's data tables (YAML under au_animation/data/), validated on load with pydantic.

Everything the engine knows about faces lives in these files: AU prototypes per emotion, keyframe
templates per profile, antagonistic pairs, mouth caps and the life layer. `load_tables()` reads and
cross-checks them once; the result is immutable and shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from itertools import pairwise

import yaml
from avatar_common.emotion import CANONICAL_LABELS
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from au_animation.retarget import parse_au

PROFILES: tuple[str, ...] = ("felt", "posed")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_au(name: str) -> str:
    parsed = parse_au(name)
    if parsed is None or parsed[0] + parsed[1] != name:
        raise ValueError(f"{name!r} is not an AU name like 'AU06' or 'AU12R'")
    return name


# -- prototypes.yaml -------------------------------------------------------------------------------
class AuEntry(_Strict):
    intensity: float | str
    from_weight: float = Field(default=0.0, ge=0.0, lt=1.0)


class Prototype(_Strict):
    source: str = Field(min_length=1)
    aus: dict[str, AuEntry]

    @field_validator("aus")
    @classmethod
    def _names(cls, aus: dict[str, AuEntry]) -> dict[str, AuEntry]:
        for name in aus:
            _check_au(name)
        return aus


class PrototypeTable(_Strict):
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    letters: dict[str, float]
    emotions: dict[str, Prototype]

    @model_validator(mode="after")
    def _complete(self) -> PrototypeTable:
        if tuple(self.emotions) != CANONICAL_LABELS:
            raise ValueError(f"emotions must be {CANONICAL_LABELS} in this order, got {tuple(self.emotions)}")
        for label, proto in self.emotions.items():
            for au, entry in proto.aus.items():
                value = self.letters.get(entry.intensity) if isinstance(entry.intensity, str) else entry.intensity
                if value is None or not 0.0 < value <= 1.0:
                    raise ValueError(f"{label}.{au}: intensity {entry.intensity!r} is not a letter or in (0, 1]")
        return self

    def intensity(self, entry: AuEntry) -> float:
        return float(self.letters[entry.intensity] if isinstance(entry.intensity, str) else entry.intensity)


# -- keyframes.yaml --------------------------------------------------------------------------------
class Phase(_Strict):
    duration: float | None = Field(default=None, gt=0.0, le=10.0)
    keys: list[tuple[float, float]] | None = None

    @field_validator("keys")
    @classmethod
    def _monotone(cls, keys: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if keys is None:
            return keys
        if len(keys) < 2 or tuple(keys[0]) != (0.0, 0.0) or tuple(keys[-1]) != (1.0, 1.0):
            raise ValueError("keys must run from [0, 0] to [1, 1]")
        for (t0, d0), (t1, d1) in pairwise(keys):
            if not (t1 > t0 and d1 >= d0):
                raise ValueError("keys must be strictly increasing in time and non-decreasing in displacement")
        return keys


class Apex(_Strict):
    duration: float = Field(gt=0.0, le=10.0)
    sustain: float = Field(gt=0.0, le=1.0)


class EmotionTiming(_Strict):
    onset: Phase | None = None
    apex: Apex | None = None
    offset: Phase | None = None


class Jitter(_Strict):
    time: float = Field(ge=0.0, le=0.45)
    value: float = Field(ge=0.0, le=0.2)


class Profile(_Strict):
    gain: float = Field(gt=0.0, le=2.0)
    jitter: Jitter
    onset: Phase
    apex: Apex
    offset: Phase
    emotions: dict[str, EmotionTiming] = {}

    @model_validator(mode="after")
    def _defaults_complete(self) -> Profile:
        for phase in (self.onset, self.offset):
            if phase.duration is None or phase.keys is None:
                raise ValueError("profile defaults need onset/offset duration and keys")
        unknown = set(self.emotions) - set(CANONICAL_LABELS)
        if unknown:
            raise ValueError(f"unknown emotions {sorted(unknown)}")
        return self


class KeyframeTable(_Strict):
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    profiles: dict[str, Profile]

    @model_validator(mode="after")
    def _both(self) -> KeyframeTable:
        if set(self.profiles) != set(PROFILES):
            raise ValueError(f"profiles must be {PROFILES}")
        return self


@dataclass(frozen=True)
class Timing:
    """Resolved timing of one emotion in one profile."""

    onset_duration: float
    onset_keys: tuple[tuple[float, float], ...]
    apex_duration: float
    sustain: float
    offset_duration: float
    offset_keys: tuple[tuple[float, float], ...]
    gain: float
    jitter_time: float
    jitter_value: float


# -- antagonists.yaml, mouth.yaml, life.yaml ---------------------------------------------------------
class Pair(_Strict):
    a: str
    b: str
    k: float = Field(ge=0.0, le=1.0)
    source: str = Field(min_length=1)

    @field_validator("a", "b")
    @classmethod
    def _au(cls, name: str) -> str:
        return _check_au(name)


class AntagonistTable(_Strict):
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    margin: float = Field(gt=0.0, le=1.0)
    pairs: list[Pair]


class MouthTable(_Strict):
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    attack: float = Field(gt=0.0, le=5.0)
    release: float = Field(gt=0.0, le=5.0)
    caps: dict[str, float]

    @field_validator("caps")
    @classmethod
    def _caps(cls, caps: dict[str, float]) -> dict[str, float]:
        for name, cap in caps.items():
            _check_au(name)
            if not 0.0 <= cap <= 1.0:
                raise ValueError(f"cap of {name} must be in [0, 1]")
        return caps


def _au_values(aus: dict[str, float]) -> dict[str, float]:
    for name, value in aus.items():
        _check_au(name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: {value} not in [0, 1]")
    return aus


class Blink(_Strict):
    mean_interval: float = Field(gt=0.5, le=30.0)
    cv: float = Field(gt=0.0, le=2.0)
    min_interval: float = Field(gt=0.0, le=10.0)
    duration: float = Field(gt=0.05, le=1.0)
    keys: list[tuple[float, float]]
    double_probability: float = Field(ge=0.0, le=1.0)
    suppress_surprise_above: float = Field(ge=0.0, le=1.0)
    max_suppression: float = Field(ge=0.0, le=60.0)


class _AuMap(_Strict):
    aus: dict[str, float]

    @field_validator("aus")
    @classmethod
    def _aus(cls, aus: dict[str, float]) -> dict[str, float]:
        return _au_values(aus)


class Breathing(_AuMap):
    period: float = Field(gt=1.0, le=20.0)


class MicroMotion(_AuMap):
    frequencies: list[float] = Field(min_length=1)


class Cue(_AuMap):
    attack: float = Field(gt=0.0, le=5.0)
    release: float = Field(gt=0.0, le=5.0)
    timeout: float | None = Field(default=None, gt=0.0, le=60.0)


class MicroExpression(_Strict):
    peak_scale: float = Field(gt=0.0, le=1.0)
    rise: float = Field(gt=0.0)
    hold: float = Field(ge=0.0)
    fall: float = Field(gt=0.0)
    refractory: float = Field(ge=0.0, le=10.0)

    @model_validator(mode="after")
    def _brief(self) -> MicroExpression:
        if self.rise + self.hold + self.fall >= 0.5:
            raise ValueError("a micro-expression must last less than 0.5 s")
        return self


class LifeTable(_Strict):
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    blink: Blink
    breathing: Breathing
    micro_motion: MicroMotion
    listening: Cue
    thinking: Cue
    micro_expression: MicroExpression


# -- all tables ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tables:
    prototypes: PrototypeTable
    keyframes: KeyframeTable
    antagonists: AntagonistTable
    mouth: MouthTable
    life: LifeTable

    def timing(self, profile: str, label: str) -> Timing:
        """Onset/apex/offset of `label` in `profile`, per-emotion overrides over the profile defaults."""
        prof = self.keyframes.profiles[profile]
        own = prof.emotions.get(label, EmotionTiming())
        onset = own.onset or Phase()
        offset = own.offset or Phase()
        apex = own.apex or prof.apex
        return Timing(
            onset_duration=float(onset.duration or prof.onset.duration or 1.0),
            onset_keys=tuple(onset.keys or prof.onset.keys or ()),
            apex_duration=apex.duration,
            sustain=apex.sustain,
            offset_duration=float(offset.duration or prof.offset.duration or 1.0),
            offset_keys=tuple(offset.keys or prof.offset.keys or ()),
            gain=prof.gain,
            jitter_time=prof.jitter.time,
            jitter_value=prof.jitter.value,
        )

    def channels(self) -> tuple[str, ...]:
        """Every AU channel the engine drives, sorted by AU number then side ("", "L", "R")."""
        names: set[str] = set()
        for proto in self.prototypes.emotions.values():
            names.update(proto.aus)
        life = self.life
        for aus in (life.breathing.aus, life.micro_motion.aus, life.listening.aus, life.thinking.aus):
            names.update(aus)
        names.add("AU45")

        def key(name: str) -> tuple[int, str]:
            code, side = parse_au(name) or ("AU99", "")
            return int(code[2:]), side

        return tuple(sorted(names, key=key))


def _read(name: str) -> object:
    return yaml.safe_load((files("au_animation") / "data" / name).read_text())


@lru_cache(maxsize=1)
def load_tables() -> Tables:
    """Read and validate every engine table shipped with the package (cached)."""
    return Tables(
        prototypes=PrototypeTable.model_validate(_read("prototypes.yaml")),
        keyframes=KeyframeTable.model_validate(_read("keyframes.yaml")),
        antagonists=AntagonistTable.model_validate(_read("antagonists.yaml")),
        mouth=MouthTable.model_validate(_read("mouth.yaml")),
        life=LifeTable.model_validate(_read("life.yaml")),
    )
