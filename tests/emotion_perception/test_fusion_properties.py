"""Property tests: hostile estimates never make the fusion emit an invalid EmotionState."""

from __future__ import annotations

import math

import pytest
from avatar_common.emotion import CANONICAL_LABELS, Emotion, sanitize
from emotion_perception.fusion import EmotionFuser, parse_event, run_timeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hostile_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2.0, max_value=2.0),
    st.sampled_from([0.0, 1.0, -1.0, 1e308, -1e308, 5e-324]),
)
hostile_scalar = st.one_of(hostile_float, st.none(), st.text(max_size=5), st.booleans(), st.integers())
label = st.one_of(st.sampled_from([*CANONICAL_LABELS, "JOY", " Sad ", "angry", "calm"]), st.text(max_size=8),
                  st.integers(), st.none())
modality = st.sampled_from(["text", "voice", "face", "face", "face", "gesture", ""])


@st.composite
def hostile_emotion(draw: st.DrawFn) -> Emotion:
    """An Emotion built without sanitize(): any keys, any numbers, any stamp."""
    weights = draw(st.dictionaries(label, hostile_scalar, max_size=10))
    return Emotion(
        weights=weights,  # type: ignore[arg-type]
        valence=draw(hostile_scalar), arousal=draw(hostile_scalar),  # type: ignore[arg-type]
        confidence=draw(hostile_scalar),  # type: ignore[arg-type]
        stamp=draw(hostile_scalar),  # type: ignore[arg-type]
        utterance_id=draw(st.one_of(st.text(max_size=6), st.none())),  # type: ignore[arg-type]
        micro_expression=draw(st.one_of(st.sampled_from(["", "disgust", "joy", "nope"]), st.none())),  # type: ignore[arg-type]
        micro_intensity=draw(hostile_scalar),  # type: ignore[arg-type]
    )


def assert_valid(e: Emotion, now: float) -> None:
    assert e.source == "fused"
    assert tuple(k for k in CANONICAL_LABELS if k in e.weights) == CANONICAL_LABELS and len(e.weights) == 8
    for value in (*e.weights.values(), e.valence, e.arousal, e.confidence, e.stamp, e.micro_intensity):
        assert isinstance(value, float) and math.isfinite(value)
    assert all(0.0 <= v <= 1.0 for v in e.weights.values())
    assert -1.0 <= e.valence <= 1.0 and -1.0 <= e.arousal <= 1.0 and 0.0 <= e.confidence <= 1.0
    assert e.stamp == now
    assert e.micro_expression in ("", *CANONICAL_LABELS)
    # An independent check: the shared validator finds nothing to fix in what the fusion emits.
    _, problems = sanitize(list(e.weights), list(e.weights.values()), e.valence, e.arousal, e.confidence,
                           micro_expression=e.micro_expression, micro_intensity=e.micro_intensity)
    assert problems == []
    assert isinstance(e.utterance_id, str)


@SETTINGS
@given(st.lists(st.tuples(modality, hostile_emotion(), st.floats(0.0, 5.0)), max_size=25),
       st.floats(1.0, 1e6))
def test_hostile_estimates_never_yield_an_invalid_state(steps: list[tuple[str, Emotion, float]], t0: float) -> None:
    fuser = EmotionFuser()
    now = t0
    for name, emotion, dt in steps:
        now += dt
        problems = fuser.ingest(name, emotion, now)
        assert all(isinstance(p, str) for p in problems)
        assert_valid(fuser.fuse(now).emotion, now)
    for later in (now + 0.5, now + 5.0, now + 1e4):
        assert_valid(fuser.fuse(later).emotion, later)
    assert fuser.fuse(now + 1e4).emotion.weights["neutral"] == 1.0  # everything relaxed to neutral


@SETTINGS
@given(st.lists(st.dictionaries(
    st.sampled_from(["t", "modality", "source", "labels", "weights", "emotions", "valence", "arousal",
                     "confidence", "stamp", "utterance_id", "micro_expression", "micro_intensity"]),
    st.one_of(hostile_scalar, st.lists(st.one_of(label, hostile_scalar), max_size=6),
              st.dictionaries(label.filter(lambda x: isinstance(x, str)), hostile_scalar, max_size=4),
              modality)), max_size=12))
def test_hostile_timeline_objects_are_fixed_or_rejected(objects: list[dict]) -> None:
    events = []
    for obj in objects:
        if isinstance(obj.get("t"), float) and math.isfinite(obj["t"]):
            obj["t"] = min(abs(obj["t"]), 50.0)  # keep the evaluation grid short
        event, problems = parse_event(obj)
        assert event is not None or problems
        if event is not None:
            events.append(event)
    for record in run_timeline(events, rate_hz=5.0, tail_s=1.0):
        weights = record["weights"]
        assert len(weights) == 8 and all(0.0 <= x <= 1.0 for x in weights)
        assert -1.0 <= record["valence"] <= 1.0 and -1.0 <= record["arousal"] <= 1.0
        assert 0.0 <= record["confidence"] <= 1.0


@SETTINGS
@given(st.dictionaries(st.sampled_from(CANONICAL_LABELS), st.floats(0.0, 1.0), min_size=1),
       st.sampled_from(["text", "face"]))
def test_a_fresh_confident_estimate_keeps_every_co_occurring_label(weights: dict[str, float], name: str) -> None:
    fuser = EmotionFuser()
    emotion, _ = sanitize(list(weights), list(weights.values()), confidence=1.0, stamp=10.0)
    fuser.ingest("text", emotion, 10.0)
    out = fuser.fuse(10.0).emotion
    for k, v in weights.items():
        assert out.weights[k] == pytest.approx(v, abs=1e-9)
    # With a second, identical modality (a steady face stream) the labels stay the same.
    for i in range(45):
        fuser.ingest(name, Emotion(weights=weights, confidence=1.0, stamp=10.0 + i / 30), 10.0 + i / 30)
    out = fuser.fuse(11.5).emotion
    for k, v in weights.items():
        assert out.weights[k] == pytest.approx(v, abs=1e-6)
