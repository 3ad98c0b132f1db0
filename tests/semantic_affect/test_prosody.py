"""Prosody: YIN f0 on signals of known pitch, features of synthesised speech that differ in
pitch, loudness and rate, and the arousal ordering those cues imply against a speaker baseline."""

from __future__ import annotations

import numpy as np
import pytest
from semantic_affect.speech.prosody import ProsodyBaseline, count_syllables, features, yin_f0
from speech_synth import RATE, synth

TEXT = "I went to the market this morning and bought some fresh bread."


@pytest.mark.parametrize("f0", [85.0, 130.0, 210.0, 330.0])
def test_yin_finds_the_fundamental_of_a_harmonic_tone(f0: float) -> None:
    t = np.arange(RATE) / RATE
    # a missing-fundamental-prone signal: harmonics 1..6 with falling amplitude
    x = sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 7)) * 0.2
    est, _ = yin_f0(x)
    voiced = est[est > 0]
    assert voiced.size > 0.9 * est.size
    assert np.median(voiced) == pytest.approx(f0, rel=0.01)


def test_silence_and_noise_have_no_prosody() -> None:
    rng = np.random.default_rng(0)
    assert features(np.zeros(RATE)) is None
    assert features(0.1 * rng.standard_normal(RATE)) is None  # aperiodic: no voicing


def test_syllable_count() -> None:
    assert count_syllables("Hello there") == 3
    assert count_syllables("beautiful banana") == 6
    assert count_syllables("") == 0


def test_features_follow_pitch_loudness_and_rate() -> None:
    base = features(synth(TEXT, pitch=50), TEXT)
    high = features(synth(TEXT, pitch=85), TEXT)
    loud = features(synth(TEXT, amplitude=180), TEXT)
    soft = features(synth(TEXT, amplitude=40), TEXT)
    fast = features(synth(TEXT, speed=230), TEXT)
    slow = features(synth(TEXT, speed=110), TEXT)
    assert None not in (base, high, loud, soft, fast, slow)
    assert high.f0_median_st > base.f0_median_st + 2
    assert loud.energy_db > base.energy_db + 3 > soft.energy_db + 6
    assert fast.rate_sps > base.rate_sps * 1.2 > slow.rate_sps * 1.4
    assert 80 < base.f0_mean_hz < 200


def test_arousal_orders_excited_above_calm_after_a_baseline() -> None:
    baseline = ProsodyBaseline()
    for sentence in ("The weather is lovely this afternoon.", "Can you tell me the way to the station?",
                     "I would like a cup of coffee please."):
        first = baseline.affect(features(synth(sentence), sentence))
    assert baseline.count == 3 and first.confidence <= 0.35
    excited = baseline.affect(features(synth(TEXT, pitch=80, amplitude=170, speed=210), TEXT), learn=False)
    calm = baseline.affect(features(synth(TEXT, pitch=30, amplitude=50, speed=120), TEXT), learn=False)
    neutral = baseline.affect(features(synth(TEXT), TEXT), learn=False)
    assert excited.arousal > 0.3 > neutral.arousal > -0.3 > calm.arousal
    assert excited.valence == calm.valence == 0.0
    assert 0 < calm.confidence <= 0.35
