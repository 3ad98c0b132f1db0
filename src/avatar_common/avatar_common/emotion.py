"""Canonical emotion labels and the validation every consumer of an emotion estimate applies.

Estimates come from outside (LLM replies, classifiers, other nodes) and can be wrong in every way:
NaN or infinite numbers, weights outside [0, 1], label and weight arrays of different lengths,
unknown or duplicated labels. `sanitize()` turns anything into a valid `Emotion` and reports what it
had to fix, so callers can log one clear line and keep running.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

import yaml
from pydantic import BaseModel, ConfigDict, Field

CANONICAL_LABELS: tuple[str, ...] = (
    "neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt",
)


class _Point(BaseModel):
    model_config = ConfigDict(extra="forbid")
    valence: float = Field(ge=-1.0, le=1.0)
    arousal: float = Field(ge=-1.0, le=1.0)


class EmotionSpace(BaseModel):
    """Schema of data/emotion_space.yaml."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    labels: dict[str, _Point]
    aliases: dict[str, str] = {}


@lru_cache(maxsize=1)
def emotion_space() -> EmotionSpace:
    """The label table shipped with the package, validated once."""
    text = (files("avatar_common") / "data" / "emotion_space.yaml").read_text()
    space = EmotionSpace.model_validate(yaml.safe_load(text))
    if tuple(space.labels) != CANONICAL_LABELS:
        raise ValueError(f"emotion_space.yaml labels must be {CANONICAL_LABELS}, got {tuple(space.labels)}")
    return space


def canonical_label(name: str) -> str | None:
    """Map a label or a known alias (case-insensitive) to its canonical name; None if unknown."""
    key = str(name).strip().lower()
    if key in CANONICAL_LABELS:
        return key
    return emotion_space().aliases.get(key)


def clamp(value: object, low: float, high: float, default: float = 0.0) -> float:
    """A finite float in [low, high]; non-numbers and NaN become `default`, +-inf the bound."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    if math.isnan(x):
        return default
    return min(high, max(low, x))


@dataclass(frozen=True)
class Emotion:
    """A validated emotion estimate: weights of canonical labels in [0, 1], valence/arousal in [-1, 1]."""

    weights: Mapping[str, float]
    valence: float = 0.0
    arousal: float = 0.0
    confidence: float = 0.0
    source: str = ""
    utterance_id: str = ""
    stamp: float = 0.0
    micro_expression: str = ""
    micro_intensity: float = 0.0
    meta: Mapping[str, object] = field(default_factory=dict)

    def dominant(self) -> tuple[str, float]:
        """The label with the highest weight (neutral, 0 when there is none)."""
        if not self.weights:
            return "neutral", 0.0
        label = max(self.weights, key=lambda k: self.weights[k])
        return label, self.weights[label]


def valence_arousal(weights: Mapping[str, float]) -> tuple[float, float]:
    """Weighted mean of the labels' circumplex points (neutral pulls towards the origin)."""
    space = emotion_space().labels
    total = sum(weights.values())
    if total <= 0.0:
        return 0.0, 0.0
    v = sum(w * space[k].valence for k, w in weights.items()) / total
    a = sum(w * space[k].arousal for k, w in weights.items()) / total
    return clamp(v, -1.0, 1.0), clamp(a, -1.0, 1.0)


MAX_LABELS = 64  # labels read from one estimate: the canonical eight and their aliases, with room to spare


def sanitize(
    labels: Sequence[object] | None,
    weights: Sequence[object] | None,
    valence: object = 0.0,
    arousal: object = 0.0,
    confidence: object = 0.0,
    **extra: object,
) -> tuple[Emotion, list[str]]:
    """Validate a raw estimate. Returns the safe Emotion and a list of the problems fixed.

    Rules: pairs beyond the shorter array are dropped; unknown labels are dropped; aliases are
    mapped; a label given twice keeps its largest weight; weights and confidence are clamped to
    [0, 1] and valence/arousal to [-1, 1], NaN becoming 0.
    """
    problems: list[str] = []
    labels = list(labels or [])
    weights = list(weights or [])
    if len(labels) != len(weights):
        problems.append(f"{len(labels)} labels but {len(weights)} weights: extra entries dropped")
    if min(len(labels), len(weights)) > MAX_LABELS:  # a flood of huge arrays must not stall the 60 Hz frame loop
        problems.append(f"{min(len(labels), len(weights))} labels: only the first {MAX_LABELS} read")
        labels, weights = labels[:MAX_LABELS], weights[:MAX_LABELS]
    clean: dict[str, float] = {}
    for raw_label, raw_weight in zip(labels, weights, strict=False):
        label = canonical_label(str(raw_label))
        if label is None:
            problems.append(f"unknown label {str(raw_label)[:40]!r} dropped")
            continue
        w = clamp(raw_weight, 0.0, 1.0)
        if not _in_range(raw_weight, 0.0, 1.0):
            problems.append(f"weight of {label} {_short(raw_weight)} clamped to {w:.3g}")
        clean[label] = max(w, clean.get(label, 0.0))
    for name, value, low in (("valence", valence, -1.0), ("arousal", arousal, -1.0), ("confidence", confidence, 0.0)):
        if not _in_range(value, low, 1.0):
            problems.append(f"{name} {_short(value)} clamped")
    micro = str(extra.pop("micro_expression", "") or "")
    micro_label = canonical_label(micro) if micro else ""
    if micro and micro_label is None:
        problems.append(f"unknown micro_expression {micro[:40]!r} dropped")
    emotion = Emotion(
        weights=clean,
        valence=clamp(valence, -1.0, 1.0),
        arousal=clamp(arousal, -1.0, 1.0),
        confidence=clamp(confidence, 0.0, 1.0),
        micro_expression=micro_label or "",
        micro_intensity=clamp(extra.pop("micro_intensity", 0.0), 0.0, 1.0) if micro_label else 0.0,
        source=str(extra.pop("source", "") or ""),
        utterance_id=str(extra.pop("utterance_id", "") or ""),
        stamp=clamp(extra.pop("stamp", 0.0), 0.0, float("inf")),
    )
    return emotion, problems


def ordered(weights: Mapping[str, float], labels: Iterable[str] = CANONICAL_LABELS) -> tuple[list[str], list[float]]:
    """Labels (canonical order) and weights for a message, only the labels present."""
    names = [k for k in labels if k in weights]
    return names, [float(weights[k]) for k in names]


def _in_range(value: object, low: float, high: float) -> bool:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return low <= x <= high


def _short(value: object) -> str:
    return repr(value)[:24]
