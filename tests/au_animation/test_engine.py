"""The AU animation engine: prototypes at apex, timing, modes, blending, life layer, mouth, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from au_animation.engine import Synthesizer, load_tables
from au_animation.engine.curves import TURN_MARGIN, Curve, pchip_slopes
from au_animation.engine.tracks import EmotionTrack, Phase
from au_animation.retarget import load_retarget
from avatar_common.emotion import CANONICAL_LABELS
from scipy.interpolate import PchipInterpolator

FPS = 60.0
EMOTIONS = CANONICAL_LABELS[1:]


def run(synth: Synthesizer, seconds: float, events: dict[int, dict] | None = None, start: int = 0) -> np.ndarray:
    """Frames at 60 Hz; `events` maps a frame index to weights applied just before that frame."""
    frames = []
    for i in range(start, start + round(seconds * FPS)):
        t = i / FPS
        if events and i in events:
            synth.set_weights(events[i], t)
        frames.append(synth.step_array(t).copy())
    return np.array(frames)


def col(synth: Synthesizer, frames: np.ndarray, name: str) -> np.ndarray:
    return frames[:, synth.channels.index(name)]


def base_aus(label: str) -> dict[str, float]:
    protos = load_tables().prototypes
    return {au: protos.intensity(e) for au, e in protos.emotions[label].aus.items() if e.from_weight == 0.0}


@pytest.mark.parametrize("label", EMOTIONS)
def test_apex_shows_the_prototype(label: str) -> None:
    synth = Synthesizer(life=False)
    frames = run(synth, 2.0, {0: {label: 1.0}})
    peak = frames.max(axis=0)
    expected = base_aus(label)
    for au, intensity in expected.items():
        assert peak[synth.channels.index(au)] == pytest.approx(intensity, abs=0.08), au
    others = [c for c in synth.channels if c not in load_tables().prototypes.emotions[label].aus]
    assert all(peak[synth.channels.index(c)] < 1e-9 for c in others), others


def test_named_prototypes_from_the_issue() -> None:
    happy = run(Synthesizer(life=False), 1.5, {0: {"happiness": 1.0}})[-1]
    synth = Synthesizer(life=False)
    assert happy[synth.channels.index("AU06")] > 0.4 and happy[synth.channels.index("AU12")] > 0.5
    surprise = run(Synthesizer(life=False), 1.0, {0: {"surprise": 1.0}})[-1]
    for au in ("AU01", "AU02", "AU05", "AU26"):
        assert surprise[synth.channels.index(au)] > 0.2, au
    contempt = run(Synthesizer(life=False), 1.5, {0: {"contempt": 1.0}})[-1]
    assert contempt[synth.channels.index("AU12R")] > 0.25 and contempt[synth.channels.index("AU12")] == 0.0
    arkit = load_retarget("arkit").apply_dict(dict(zip(synth.channels, contempt, strict=True)))
    assert arkit["mouthSmileRight"] > 0.25 and arkit["mouthSmileLeft"] == 0.0


@pytest.mark.parametrize("profile", ["felt", "posed"])
def test_dynamic_onset_is_gradual_and_bounded(profile: str) -> None:
    for label in EMOTIONS:
        synth = Synthesizer(profile=profile, life=False, seed=3)
        frames = run(synth, 4.0, {0: {label: 1.0}, 150: {label: 0.0}})
        peak = frames.max(axis=0)
        active = peak > 0.0
        at_100ms = frames[round(0.1 * FPS), active]
        assert np.all(at_100ms < 0.6 * peak[active]), (label, at_100ms, peak[active])
        assert np.abs(np.diff(frames, axis=0)).max() <= 0.15, label


def test_posed_is_faster_and_larger_than_felt() -> None:
    felt = col(Synthesizer(profile="felt", life=False), run(Synthesizer(profile="felt", life=False), 3.0,
                                                           {0: {"happiness": 0.7}}), "AU12")
    posed = col(Synthesizer(profile="posed", life=False), run(Synthesizer(profile="posed", life=False), 3.0,
                                                             {0: {"happiness": 0.7}}), "AU12")
    assert posed.max() > felt.max() * 1.1
    t_felt = np.argmax(felt >= 0.5 * felt.max())
    t_posed = np.argmax(posed >= 0.5 * posed.max())
    assert t_posed < t_felt


def test_rise_hold_fall_phases() -> None:
    timing = load_tables().timing("felt", "happiness")
    track = EmotionTrack("happiness", timing, dynamic=True, rng=None)
    track.set_target(1.0, 0.0)
    assert track.phase(0.1) is Phase.ONSET
    assert track.phase(timing.onset_duration + 0.1) is Phase.APEX
    assert track.phase(timing.onset_duration + timing.apex_duration + 0.5) is Phase.HOLD
    assert track.amplitude(5.0) == pytest.approx(timing.sustain)
    track.set_target(0.0, 5.0)
    assert track.phase(5.1) is Phase.OFFSET
    assert track.phase(5.0 + timing.offset_duration + 0.01) is Phase.IDLE
    assert track.amplitude(9.0) == 0.0


def test_static_holds_the_template_pose() -> None:
    synth = Synthesizer(mode="static", life=True)  # static ignores the life layer
    frames = run(synth, 3.0, {0: {"happiness": 0.5, "surprise": 0.5}})
    assert np.array_equal(frames[0], frames[-1]) and np.all(frames == frames[0])
    expected = {au: 0.5 * v for au, v in base_aus("happiness").items()}
    for au, v in expected.items():
        assert frames[0, synth.channels.index(au)] == pytest.approx(v)
    assert frames[0, synth.channels.index("AU26")] == pytest.approx(0.5 * base_aus("surprise")["AU26"])
    assert frames[0, synth.channels.index("AU45")] == 0.0


def test_happiness_and_surprise_co_occur() -> None:
    synth = Synthesizer(life=False)
    last = run(synth, 2.0, {0: {"happiness": 0.7, "surprise": 0.5}})[-1]
    values = dict(zip(synth.channels, last, strict=True))
    assert values["AU06"] > 0.25 and values["AU12"] > 0.35
    assert values["AU01"] > 0.15 and values["AU02"] > 0.15 and values["AU26"] > 0.1


def test_retargeting_mid_motion_is_c1() -> None:
    timing = load_tables().timing("felt", "happiness")
    track = EmotionTrack("happiness", timing, dynamic=True, rng=np.random.default_rng(0))
    track.set_target(1.0, 0.0)
    t_change = 0.35
    before_value, before_slope = track.curve(t_change), track.curve.slope(t_change)
    assert before_slope > 0.5  # mid-rise
    track.set_target(0.2, t_change)  # reverse while moving
    assert track.curve(t_change) == pytest.approx(before_value, abs=1e-12)
    assert track.curve.slope(t_change) == pytest.approx(before_slope, rel=1e-6)
    dt = 1e-4
    jump = abs(track.curve(t_change + dt) - before_value)
    assert jump < 2 * before_slope * dt
    samples = [track.curve(t_change + k * 0.01) for k in range(300)]
    assert min(samples) >= 0.2 - 1e-9 and max(samples) <= before_value + TURN_MARGIN + 1e-9
    assert samples[-1] == pytest.approx(0.2)


def test_a_nearer_target_in_the_same_direction_is_c1_without_overshoot() -> None:
    timing = load_tables().timing("posed", "surprise")
    track = EmotionTrack("surprise", timing, dynamic=True, rng=None)
    track.set_target(1.0, 0.0)
    t_change = 0.08
    value, slope = track.curve(t_change), track.curve.slope(t_change)
    goal = value + 0.05
    track.set_target(goal / timing.gain, t_change)
    assert track.curve.slope(t_change) == pytest.approx(slope, rel=1e-9)
    samples = [track.curve(t_change + k * 0.002) for k in range(200)]
    assert max(samples) <= goal + 1e-9 and track.curve(10.0) == pytest.approx(goal * timing.sustain)


def test_curves_never_overshoot_their_keys() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 7))
        times = np.cumsum(rng.uniform(0.01, 0.5, n))
        values = np.sort(rng.uniform(0, 1, n)) if rng.random() < 0.5 else rng.uniform(0, 1, n)
        curve = Curve.through(times, values, end_slope=None)
        probe = [curve(t) for t in np.linspace(times[0] - 0.1, times[-1] + 0.1, 400)]
        assert min(probe) >= values.min() - 1e-9 and max(probe) <= values.max() + 1e-9


def test_pchip_slopes_are_scipys() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(2, 8))
        x = np.cumsum(rng.uniform(0.01, 1.0, n))
        y = rng.uniform(0, 1, n) if rng.random() < 0.5 else np.sort(rng.uniform(0, 1, n))
        if rng.random() < 0.2:
            y[1] = y[0]  # flat pieces
        expected = PchipInterpolator(x, y).derivative()(x)
        np.testing.assert_allclose(pchip_slopes(list(x), list(y)), expected, rtol=1e-9, atol=1e-12)


def test_antagonists_stronger_wins_and_own_combinations_stay() -> None:
    sad = run(Synthesizer(life=False), 3.0, {0: {"sadness": 1.0}})[-1]
    ch = Synthesizer(life=False).channels
    assert sad[ch.index("AU01")] > 0.5 and sad[ch.index("AU04")] > 0.3  # AU1+AU4 of sadness kept
    mixed = run(Synthesizer(life=False), 3.0, {0: {"happiness": 1.0, "sadness": 0.4}})[-1]
    assert mixed[ch.index("AU12")] > 0.6  # the stronger smile stays
    assert mixed[ch.index("AU15")] < 0.1 * 0.4 * 0.6  # the weaker frown is faded out
    brows = run(Synthesizer(life=False), 3.0, {0: {"anger": 1.0, "surprise": 0.3}})[-1]
    assert brows[ch.index("AU04")] > 0.6 and brows[ch.index("AU02")] < 0.1


def test_blinks_have_a_realistic_rate_and_shape() -> None:
    synth = Synthesizer(seed=11)
    frames = run(synth, 60.0)
    blink = col(synth, frames, "AU45")
    assert 8 <= synth.blinker.count <= 35
    closed = blink > 0.5
    starts = np.flatnonzero(closed[1:] & ~closed[:-1])
    ends = np.flatnonzero(~closed[1:] & closed[:-1])
    assert len(starts) >= 8
    lengths = (ends[: len(starts)] - starts[: len(ends)]) / FPS
    assert np.all(lengths < 0.4) and blink.max() > 0.95


def test_blinks_suppressed_during_strong_surprise() -> None:
    synth = Synthesizer(seed=11)
    frames = run(synth, 12.0, {0: {"surprise": 1.0}})
    blink = col(synth, frames, "AU45")
    surprise_strong = np.array([False] * len(frames))
    replay = Synthesizer(seed=11)
    for i in range(len(frames)):
        if i == 0:
            replay.set_weights({"surprise": 1.0}, 0.0)
        replay.step_array(i / FPS)
        surprise_strong[i] = replay.amplitudes()["surprise"] > 0.5
    assert surprise_strong[60:].all()
    first_due = Synthesizer(seed=11).blinker.next_at
    held = round((first_due + load_tables().life.blink.max_suppression) * FPS)
    assert blink[60:held].max() < 0.05  # postponed while the eyes are wide
    assert blink[held:].max() > 0.9  # but not forever
    assert col(synth, run(Synthesizer(seed=11), 12.0), "AU45").max() > 0.9  # same seed, no surprise: blinks


def test_breathing_and_micro_motion_keep_a_neutral_face_alive() -> None:
    synth = Synthesizer(seed=2)
    frames = run(synth, 10.0)
    assert col(synth, frames, "AU38").max() > 0.05 and np.ptp(col(synth, frames, "AU01")) > 0.01
    assert frames[:, [synth.channels.index(c) for c in ("AU12", "AU15", "AU09")]].max() == 0.0


def test_listening_and_thinking_cues() -> None:
    synth = Synthesizer(life=False)
    brows = synth.channels.index("AU02")
    think = synth.channels.index("AU14L")
    run(synth, 1.0)
    synth.set_user_speaking(True, 1.0)
    listening = run(synth, 1.5, start=60)
    assert listening[-1, brows] > 0.1
    synth.set_user_speaking(False, 2.5)
    thinking = run(synth, 1.0, start=150)
    assert thinking[-1, think] > 0.1 and thinking[-1, brows] < 0.03
    synth.set_weights({"happiness": 0.6}, 3.5)
    after = run(synth, 1.5, start=210)
    assert after[-1, think] < 0.01
    # without a new estimate the thinking cue times out
    synth2 = Synthesizer(life=False)
    synth2.set_user_speaking(True, 0.0)
    synth2.set_user_speaking(False, 1.0)
    frames = run(synth2, 7.0)
    assert col(synth2, frames, "AU14L")[int(2.0 * FPS)] > 0.1 and col(synth2, frames, "AU14L")[-1] < 0.01


def test_micro_expression_is_brief_and_over_the_current_face() -> None:
    synth = Synthesizer(life=False)
    events = {0: {"happiness": 0.6}}
    frames = run(synth, 2.0, events)
    synth.set_weights({"happiness": 0.6}, 2.0, micro_expression="disgust", micro_intensity=0.8)
    flash = run(synth, 1.0, start=120)
    nose = col(synth, flash, "AU09")
    assert nose.max() > 0.2
    assert (nose > 0.02).sum() / FPS < 0.5
    assert nose[-1] == 0.0
    assert col(synth, flash, "AU12").min() > 0.3 and col(synth, frames, "AU09").max() == 0.0
    assert synth.micro_count == 1


def test_mouth_arbitration_caps_and_restores_smoothly() -> None:
    synth = Synthesizer(life=False)
    run(synth, 3.0, {0: {"happiness": 1.0}})
    ch = synth.channels
    before = synth.step_array(3.0).copy()
    synth.set_avatar_speaking(True, 3.0)
    speaking = run(synth, 1.0, start=180)
    assert speaking[-1, ch.index("AU25")] == 0.0 and speaking[-1, ch.index("AU12")] <= 0.5 + 1e-9
    assert speaking[-1, ch.index("AU06")] == pytest.approx(before[ch.index("AU06")])
    synth.set_avatar_speaking(False, 4.0)
    after = run(synth, 1.5, start=240)
    assert after[-1, ch.index("AU12")] == pytest.approx(before[ch.index("AU12")], abs=1e-6)
    steps = np.abs(np.diff(np.vstack([speaking, after]), axis=0)).max()
    assert steps <= 0.15


def test_replay_is_deterministic_and_seeded() -> None:
    def session(seed: int) -> np.ndarray:
        synth = Synthesizer(seed=seed)
        out = []
        for i in range(600):
            t = i / FPS
            if i == 10:
                synth.set_weights({"happiness": 0.7, "surprise": 0.4}, t)
            if i == 100:
                synth.set_user_speaking(True, t)
            if i == 200:
                synth.set_user_speaking(False, t)
            if i == 300:
                synth.set_weights({"sadness": 0.5}, t, micro_expression="contempt", micro_intensity=0.7)
            if i == 400:
                synth.set_avatar_speaking(True, t)
            out.append(synth.step_array(t).copy())
        return np.array(out)

    a, b = session(5), session(5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, session(6))


def test_stale_estimates_and_time_jumps() -> None:
    synth = Synthesizer(life=False)
    assert synth.set_weights({"anger": 1.0}, 0.0, stamp=10.0)
    assert not synth.set_weights({"happiness": 1.0}, 0.1, stamp=5.0)  # older than the one applied
    frames = run(synth, 2.0)
    assert col(synth, frames, "AU04")[-1] > 0.5 and col(synth, frames, "AU12")[-1] == 0.0
    back = synth.step_array(0.5)  # the clock went back (bag loop): reset to neutral
    assert back.max() == 0.0 and synth.frames == 1


def test_bogus_stamps_cannot_block_later_estimates() -> None:
    synth = Synthesizer(life=False)
    assert synth.set_weights({"anger": 1.0}, 0.0, stamp=float("inf"))
    assert synth.set_weights({"happiness": 1.0}, 0.1, stamp=1000.0)
    assert synth.set_weights({"happiness": 1.0}, 0.2, stamp=1e12)  # far future
    assert synth.set_weights({"sadness": 1.0}, 0.3, stamp=1001.0)  # far older than that: a reset clock
    assert not synth.set_weights({"fear": 1.0}, 0.4, stamp=995.0)  # a few seconds older: stale
    frames = run(synth, 3.0, start=30)
    assert col(synth, frames, "AU15")[-1] > 0.4 and col(synth, frames, "AU20")[-1] == 0.0


def test_static_applies_small_changes_exactly() -> None:
    synth = Synthesizer(mode="static")
    synth.set_weights({"happiness": 0.50}, 0.0)
    synth.set_weights({"happiness": 0.51}, 0.1)
    assert synth.step(0.2)["AU12"] == pytest.approx(0.51 * base_aus("happiness")["AU12"])


def test_reversal_at_the_bounds_does_not_break() -> None:
    class AtTop:  # a curve sitting at 1.0 while still moving up (floating-point edge)
        def __call__(self, t: float) -> float:
            return 1.0

        def slope(self, t: float) -> float:
            return 0.5

    for goal, start in ((0.2, 1.0), (0.0, 1.0)):
        track = EmotionTrack("fear", load_tables().timing("felt", "fear"), dynamic=True, rng=None)
        track.curve = AtTop()
        track.target = start
        assert track.set_target(goal, 1.0)
        samples = [track.curve(1.0 + k * 0.01) for k in range(400)]
        assert min(samples) >= 0.0 and max(samples) <= 1.0 and samples[-1] == pytest.approx(goal)
