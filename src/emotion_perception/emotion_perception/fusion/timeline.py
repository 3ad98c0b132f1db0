"""Run a timeline of estimates through the fusion offline, exactly as the node would, without ROS.

A timeline is a sequence of events, one JSON object each (JSONL), e.g.::

    {"t": 0.0, "modality": "text", "emotions": {"happiness": 0.9, "surprise": 0.4}, "confidence": 0.9,
     "utterance_id": "u1"}
    {"t": 0.5, "modality": "face", "labels": ["happiness"], "weights": [0.7], "confidence": 0.8}

Fields: t (arrival time, s; required), modality (or source: text, voice, face, or another
modality of the parameter file), either emotions {label: weight} or labels[] + weights[], valence,
arousal, confidence (default 1.0), stamp (time the estimate holds; default t), utterance_id,
micro_expression, micro_intensity. Events are processed in order of t (stable). Between them the
fuser is evaluated on a grid (default: the node's check rate) and the node's publish policy is
applied, so the output shows both the state over time and what the node would publish.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from avatar_common.emotion import Emotion, clamp, sanitize

from emotion_perception.fusion.core import EmotionFuser, PublishPolicy
from emotion_perception.fusion.params import FusionParams, default_params


@dataclass(frozen=True)
class TimelineEvent:
    """One estimate arriving at time t for a modality (already validated)."""

    t: float
    modality: str
    emotion: Emotion


def parse_event(obj: Any) -> tuple[TimelineEvent | None, list[str]]:
    """Validate one timeline object; returns (event or None when unusable, problems fixed)."""
    if not isinstance(obj, Mapping):
        return None, [f"not a JSON object: {type(obj).__name__}"]
    try:
        t = float(obj.get("t"))
    except (TypeError, ValueError):
        return None, ["missing or non-numeric 't'"]
    if not math.isfinite(t):
        return None, [f"non-finite 't' {t!r}"]
    modality = obj.get("modality", obj.get("source"))
    if not isinstance(modality, str) or not modality:
        return None, ["missing 'modality'"]
    emotions = obj.get("emotions")
    if isinstance(emotions, Mapping):
        labels, weights = list(emotions.keys()), list(emotions.values())
    else:
        labels, weights = obj.get("labels"), obj.get("weights")
        labels = list(labels) if isinstance(labels, list | tuple) else []
        weights = list(weights) if isinstance(weights, list | tuple) else []
    stamp = obj.get("stamp", t)
    emotion, problems = sanitize(
        labels, weights, obj.get("valence", 0.0), obj.get("arousal", 0.0), obj.get("confidence", 1.0),
        source=modality, utterance_id=obj.get("utterance_id", ""), stamp=clamp(stamp, 0.0, 1e12, default=t),
        micro_expression=obj.get("micro_expression", ""), micro_intensity=obj.get("micro_intensity", 0.0),
    )
    return TimelineEvent(t, modality, emotion), problems


def read_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, TimelineEvent | None, list[str]]]:
    """(line number, event or None, problems) for each non-blank line; bad JSON is reported, not raised."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, [f"invalid JSON: {exc.msg}"]
            continue
        event, problems = parse_event(obj)
        yield number, event, problems


def run_timeline(
    events: Iterable[TimelineEvent],
    params: FusionParams | None = None,
    rate_hz: float | None = None,
    tail_s: float = 2.0,
    start: float | None = None,
    max_ticks: int = 1_000_000,
) -> list[dict[str, Any]]:
    """Fuse `events` offline. Returns one record per input and per grid tick, in time order.

    Each record is the fused state (Fused.as_dict()) plus "event" ("tick" or "<modality>") and
    "publish" (the reason the node would publish it, or None). The grid runs from `start` (default:
    first event) to `tail_s` after the last event at `rate_hz` (default: the node's evaluation rate).
    """
    params = params or default_params()
    ordered = sorted(events, key=lambda e: e.t)
    rate = float(rate_hz) if rate_hz else max(params.check_rate_hz, params.publish_rate_hz)
    if not (math.isfinite(rate) and rate > 0.0):
        raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")
    fuser = EmotionFuser(params)
    policy = PublishPolicy(params.change_threshold, params.publish_rate_hz)
    t0 = start if start is not None else (ordered[0].t if ordered else 0.0)
    end = (ordered[-1].t if ordered else t0) + max(0.0, tail_s)
    if (end - t0) * rate > max_ticks:
        raise ValueError(f"timeline spans {end - t0:.6g} s: more than {max_ticks} ticks at {rate:g} Hz")
    out: list[dict[str, Any]] = []

    def emit(now: float, what: str, problems: list[str] | None = None) -> None:
        fused = fuser.fuse(now)
        reason = policy.decide(fused.emotion, now)
        if reason is not None:
            policy.sent(fused.emotion, now)
            fuser.consume_micro()
        record = {"event": what, "publish": reason, **fused.as_dict()}
        if problems:
            record["problems"] = problems
        out.append(record)

    i, tick = 0, 0
    while True:
        t_tick = t0 + tick / rate
        if i < len(ordered) and ordered[i].t <= t_tick:
            event = ordered[i]
            problems = fuser.ingest(event.modality, event.emotion, max(event.t, t0))
            emit(max(event.t, t0), event.modality, problems)
            i += 1
        elif t_tick <= end + 1e-9:
            emit(t_tick, "tick")
            tick += 1
        else:
            break
    return out
