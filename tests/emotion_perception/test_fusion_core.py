"""Fusion core on scripted timelines: each behaviour of issue 8 checked against the formula by hand."""

from __future__ import annotations

import math
import random

import pytest
from avatar_common.emotion import CANONICAL_LABELS, Emotion, sanitize
from emotion_perception.fusion import EmotionFuser, PublishPolicy, default_params, parse_params
from emotion_perception.fusion.params import packaged_params_path

P = default_params()
W_TEXT, H_TEXT = P.modalities["text"].weight, P.modalities["text"].half_life_s
W_FACE, H_FACE = P.modalities["face"].weight, P.modalities["face"].half_life_s
FLOOR = P.evidence_floor


def est(weights: dict[str, float], confidence: float = 1.0, stamp: float = 0.0, uid: str = "",
        valence: float = 0.0, arousal: float = 0.0, **extra: object) -> Emotion:
    emotion, problems = sanitize(list(weights), list(weights.values()), valence, arousal, confidence,
                                 stamp=stamp, utterance_id=uid, **extra)
    assert not problems
    return emotion


def face_stream(fuser: EmotionFuser, weights: dict[str, float], t0: float, seconds: float, conf: float = 0.8,
                fps: float = 30.0, noise: float = 0.0, rng: random.Random | None = None) -> float:
    """Feed `seconds` of face frames; returns the time of the last frame."""
    t = t0
    for i in range(int(seconds * fps)):
        t = t0 + i / fps
        w = {k: min(1.0, max(0.0, v + (rng.uniform(-noise, noise) if rng else 0.0))) for k, v in weights.items()}
        assert fuser.ingest("face", est(w, conf, stamp=t), t) == []
    return t


def w(fuser: EmotionFuser, now: float) -> dict[str, float]:
    return dict(fuser.fuse(now).emotion.weights)


# -- single modalities ---------------------------------------------------------------------------
def test_text_only_passes_through_then_relaxes_to_neutral() -> None:
    f = EmotionFuser()
    assert f.ingest("text", est({"happiness": 0.9, "surprise": 0.4}, 0.9, stamp=100.0, uid="u1"), 100.0) == []
    out = f.fuse(100.0).emotion
    assert out.source == "fused" and out.utterance_id == "u1" and out.stamp == 100.0
    assert out.weights["happiness"] == pytest.approx(0.9) and out.weights["surprise"] == pytest.approx(0.4)
    assert out.weights["neutral"] == 0.0 and out.weights["sadness"] == 0.0
    assert set(out.weights) == set(CANONICAL_LABELS)
    assert out.valence > 0.4 and out.arousal > 0.4  # circumplex of happiness + surprise (no V/A given)
    assert out.confidence == pytest.approx(0.9)
    # Still above the evidence floor: alpha = 0.9 * 2^(-age/4) >= 0.5 until age ~3.4 s.
    assert w(f, 103.0)["happiness"] == pytest.approx(0.9)
    for age in (5.0, 8.0, 12.0):
        alpha = W_TEXT * 0.9 * 2 ** (-age / H_TEXT)
        got = w(f, 100.0 + age)
        assert got["happiness"] == pytest.approx(alpha * 0.9 / FLOOR)
        assert got["neutral"] == pytest.approx(1.0 - alpha / FLOOR)
    gone = f.fuse(200.0).emotion
    assert gone.weights["neutral"] == 1.0 and gone.weights["happiness"] == 0.0
    assert gone.valence == 0.0 and gone.arousal == 0.0 and gone.confidence == 0.0
    assert gone.utterance_id == ""  # the text estimate was forgotten
    assert f.fuse(200.0).alphas == {}


def test_face_only_fades_in_and_follows_a_steady_face() -> None:
    f = EmotionFuser()
    f.ingest("face", est({"happiness": 0.8, "neutral": 0.2}, 0.8, stamp=10.0), 10.0)
    first = w(f, 10.0)["happiness"]
    assert 0.0 < first < 0.4 * 0.8  # one frame does not make the character grin
    t = face_stream(f, {"happiness": 0.8, "neutral": 0.2}, 10.0 + 1 / 30, 1.5)
    steady = f.fuse(t)
    # After 1.5 s (6 tau) the smoothed confidence is ~0.8: alpha = 0.6 * 0.8 = 0.48 < floor 0.5.
    alpha = steady.alphas["face"]
    assert alpha == pytest.approx(W_FACE * 0.8, rel=0.02)
    assert steady.emotion.weights["happiness"] == pytest.approx(alpha * 0.8 / FLOOR, rel=1e-6)
    assert steady.emotion.weights["happiness"] > 0.7


def test_face_smoothing_stops_flicker() -> None:
    rng = random.Random(7)
    f = EmotionFuser()
    t = face_stream(f, {"happiness": 0.6, "neutral": 0.4}, 1.0, 2.0)
    # Noisy frames (+-0.3 per frame): the fused weight moves far less than the raw input.
    raw_jumps, fused_jumps = [], []
    prev_raw, prev_fused = 0.6, w(f, t)["happiness"]
    for _ in range(60):
        t += 1 / 30
        raw = min(1.0, max(0.0, 0.6 + rng.uniform(-0.3, 0.3)))
        f.ingest("face", est({"happiness": raw, "neutral": 1 - raw}, 0.8, stamp=t), t)
        fused = w(f, t)["happiness"]
        raw_jumps.append(abs(raw - prev_raw))
        fused_jumps.append(abs(fused - prev_fused))
        prev_raw, prev_fused = raw, fused
    assert max(fused_jumps) < 0.25 * max(raw_jumps)
    # One frame of anger in a happy stream barely shows.
    f.ingest("face", est({"anger": 1.0}, 1.0, stamp=t + 1 / 30), t + 1 / 30)
    assert w(f, t + 1 / 30)["anger"] < 0.15


# -- two modalities --------------------------------------------------------------------------------
def test_text_and_face_agreeing_reinforce() -> None:
    text_only, both = EmotionFuser(), EmotionFuser()
    for f in (text_only, both):
        f.ingest("text", est({"happiness": 0.7}, 0.6, stamp=5.0, uid="u"), 5.0)
    t = face_stream(both, {"happiness": 0.7}, 5.0, 1.5)
    a, b = text_only.fuse(t), both.fuse(t)
    # Text alone (alpha 0.6*~0.77 < floor) is diluted by neutral; the agreeing face fills the evidence.
    assert b.emotion.weights["happiness"] == pytest.approx(0.7, abs=1e-6)
    assert b.emotion.weights["happiness"] > a.emotion.weights["happiness"]
    assert b.emotion.confidence > a.emotion.confidence
    assert b.emotion.utterance_id == "u"


def test_text_and_face_disagreeing_are_weighted_and_co_occur() -> None:
    f = EmotionFuser()
    t = face_stream(f, {"sadness": 0.8, "neutral": 0.2}, 1.0, 1.5)
    f.ingest("text", est({"happiness": 0.9}, 0.9, stamp=t, uid="u2"), t)
    out = f.fuse(t)
    a_t, a_f = out.alphas["text"], out.alphas["face"]
    assert a_t == pytest.approx(W_TEXT * 0.9) and a_f == pytest.approx(W_FACE * 0.8, rel=0.02)
    total = a_t + a_f
    assert out.emotion.weights["happiness"] == pytest.approx(a_t * 0.9 / total)
    assert out.emotion.weights["sadness"] == pytest.approx(a_f * 0.8 / total)
    assert out.emotion.weights["neutral"] == pytest.approx(a_f * 0.2 / total)
    # Both present (no argmax), the more trusted channel stronger.
    assert out.emotion.weights["happiness"] > out.emotion.weights["sadness"] > 0.2
    # Valence fused the same way: between the face's negative and the text's positive valence.
    face_only = EmotionFuser()
    face_stream(face_only, {"sadness": 0.8, "neutral": 0.2}, 1.0, 1.5)
    assert face_only.fuse(t).emotion.valence < out.emotion.valence < 0.8


def test_missing_modality_drops_out() -> None:
    f = EmotionFuser()
    f.ingest("text", est({"happiness": 0.9}, 0.9, stamp=1.0, uid="u"), 1.0)
    t = face_stream(f, {"anger": 0.9}, 1.0, 1.0)
    assert w(f, t)["anger"] > 0.2
    later = t + 12 * H_FACE  # the face left the camera: nothing arrives
    out = f.fuse(later)
    assert "face" not in out.alphas
    assert out.emotion.weights["anger"] == 0.0
    alone = EmotionFuser()
    alone.ingest("text", est({"happiness": 0.9}, 0.9, stamp=1.0, uid="u"), 1.0)
    assert out.emotion.weights["happiness"] == pytest.approx(w(alone, later)["happiness"])


def test_stale_estimate_decays_monotonically() -> None:
    f = EmotionFuser()
    f.ingest("text", est({"anger": 1.0, "disgust": 0.5}, 1.0, stamp=50.0, uid="x"), 50.0)
    prev = f.fuse(50.0).emotion
    for i in range(1, 200):
        cur = f.fuse(50.0 + i * 0.25).emotion
        assert cur.weights["anger"] <= prev.weights["anger"] + 1e-12
        assert cur.weights["neutral"] >= prev.weights["neutral"] - 1e-12
        assert abs(cur.valence) <= abs(prev.valence) + 1e-12
        prev = cur
    # An estimate that is already old when it arrives counts only with its decayed weight.
    g = EmotionFuser()
    g.ingest("text", est({"anger": 1.0}, 1.0, stamp=40.0), 50.0)
    assert w(g, 50.0)["anger"] == pytest.approx(W_TEXT * 2 ** (-10 / H_TEXT) / FLOOR)
    # One from another clock (minutes old on arrival) is reported and has no effect.
    assert any("clocks" in p for p in g.ingest("face", est({"fear": 1.0}, 1.0, stamp=1.0), 500.0))
    assert w(g, 500.0)["fear"] == 0.0


def test_burst_of_utterances_latest_wins() -> None:
    f = EmotionFuser()
    f.ingest("text", est({"happiness": 0.9}, 0.9, stamp=1.0, uid="u1"), 1.1)
    f.ingest("text", est({"anger": 0.9}, 0.9, stamp=1.2, uid="u2"), 1.3)
    f.ingest("text", est({"sadness": 0.8, "fear": 0.3}, 0.9, stamp=1.4, uid="u3"), 1.5)
    # A slow reply for u2 arriving after u3 is older and must not win.
    problems = f.ingest("text", est({"anger": 0.9}, 0.9, stamp=1.2, uid="u2"), 1.6)
    assert any("older" in p for p in problems)
    out = f.fuse(1.6).emotion
    assert out.utterance_id == "u3"
    assert out.weights["happiness"] == 0.0 and out.weights["anger"] == 0.0
    assert out.weights["sadness"] == pytest.approx(0.8) and out.weights["fear"] == pytest.approx(0.3)
    assert out.valence < 0.0


def test_voice_without_labels_moves_only_valence_and_arousal() -> None:
    f = EmotionFuser()
    f.ingest("text", est({"happiness": 0.8}, 1.0, stamp=1.0, uid="u", valence=0.6, arousal=0.2), 1.0)
    before = f.fuse(1.0).emotion
    f.ingest("voice", est({}, 1.0, stamp=1.0, valence=0.6, arousal=0.9), 1.0)
    after = f.fuse(1.0).emotion
    assert after.weights == before.weights
    assert after.arousal > before.arousal
    assert after.arousal == pytest.approx((1.0 * 0.2 + 0.4 * 0.9) / 1.4)


def test_future_stamps_are_clamped_and_time_never_runs_back() -> None:
    f = EmotionFuser()
    problems = f.ingest("face", est({"fear": 1.0}, 1.0, stamp=1e9), 10.0)
    assert any("future" in p for p in problems)
    out = f.fuse(10.0)
    assert out.emotion.stamp == 10.0 and out.emotion.weights["fear"] > 0.0
    assert f.fuse(5.0).emotion.stamp == 10.0  # an earlier `now` is treated as now
    assert f.ingest("gesture", est({"fear": 1.0}, 1.0), 11.0)[0].startswith("unknown modality")
    with pytest.raises(ValueError):
        f.fuse(math.nan)


def test_micro_expression_is_passed_once_within_its_window() -> None:
    f = EmotionFuser()
    f.ingest("face", est({"happiness": 0.7}, 0.9, stamp=3.0, micro_expression="disgust", micro_intensity=0.6), 3.0)
    assert f.fuse(3.1).emotion.micro_expression == "disgust"
    assert f.fuse(3.1).emotion.micro_intensity == pytest.approx(0.6)
    assert f.fuse(3.0 + P.micro_window_s + 0.01).emotion.micro_expression == ""
    g = EmotionFuser()
    g.ingest("text", est({"happiness": 0.7}, 0.9, stamp=3.0, micro_expression="anger", micro_intensity=0.5), 3.0)
    g.consume_micro()
    assert g.fuse(3.1).emotion.micro_expression == ""


# -- publishing ----------------------------------------------------------------------------------
def test_publish_policy_event_driven_and_steady() -> None:
    f = EmotionFuser()
    policy = PublishPolicy(change_threshold=0.02, publish_rate_hz=2.0)

    def step(now: float) -> str | None:
        out = f.fuse(now).emotion
        reason = policy.decide(out, now)
        if reason:
            policy.sent(out, now)
        return reason

    assert step(0.0) == "first"
    assert step(0.1) is None  # nothing happened, within the steady period
    assert step(0.5) == "steady"
    f.ingest("text", est({"happiness": 0.5}, 0.9, stamp=0.6, uid="a"), 0.6)
    assert step(0.6) == "utterance"  # a new utterance goes out at once
    f.ingest("text", est({"happiness": 0.52}, 0.9, stamp=0.65, uid="a"), 0.65)
    assert step(0.65) == "change"  # same utterance, refined estimate, moved by 0.02
    f.ingest("text", est({"happiness": 0.525}, 0.9, stamp=0.66, uid="a"), 0.66)
    assert step(0.66) is None  # below the threshold
    f.ingest("face", est({"neutral": 1.0}, 0.9, stamp=0.7, micro_expression="contempt", micro_intensity=0.4), 0.7)
    assert step(0.7) == "micro"


# -- parameters ----------------------------------------------------------------------------------
def test_packaged_parameters_document_every_modality() -> None:
    text = packaged_params_path().read_text()
    params = parse_params(text)
    assert set(params.modalities) >= {"text", "voice", "face"}
    assert all(len(m.why) > 40 for m in params.modalities.values())
    assert params.modalities["face"].half_life_s < params.modalities["text"].half_life_s
    assert params.modalities["face"].smoothing_tau_s > 0.0 and params.modalities["text"].smoothing_tau_s == 0.0


@pytest.mark.parametrize("patch", [
    ("half_life_s: 4.0", "half_life_s: -4.0"),
    ("weight: 1.0", "weight: .nan"),
    ("evidence_floor: 0.5", "evidence_floor: 0"),
    ("  text:\n", "  Text!:\n"),
    ("schema_version: 1", "schema_version: 2"),
    ("publish_rate_hz: 2.0", "publish_rate_hz: 2.0\nsurprise_key: 1"),
])
def test_invalid_parameter_files_are_rejected(patch: tuple[str, str]) -> None:
    text = packaged_params_path().read_text()
    assert patch[0] in text
    with pytest.raises(ValueError):
        parse_params(text.replace(patch[0], patch[1], 1))
