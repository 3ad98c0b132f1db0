"""Head and gaze layer (pure): saccades and head following, aversion, posture, limits under hostile input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from au_animation.engine import Synthesizer
from au_animation.engine.gaze import GazeController, GazeTable, HeadGaze, Quintic, Sway, load_gaze_table
from au_animation.engine.gaze_target import Camera, Face, TargetSelector, point_direction
from avatar_common.emotion import CANONICAL_LABELS
from hypothesis import given, settings
from hypothesis import strategies as st

TABLE = load_gaze_table()
LIM = TABLE.limits
STILL = TABLE.model_copy(update={"sway": Sway(amplitude={}, frequencies=[0.1])})  # no sway: exact kinematics


def run(ctrl: GazeController, t0: float, t1: float, rate: float = 1000.0) -> list[tuple[float, HeadGaze]]:
    out = []
    for i in range(round((t1 - t0) * rate)):
        t = t0 + i / rate
        out.append((t, ctrl.step(t)))
    return out


def within_limits(pose: HeadGaze) -> bool:
    pairs = ((pose.head_yaw, LIM.head_yaw), (pose.head_pitch, LIM.head_pitch), (pose.head_roll, LIM.head_roll),
             (pose.eye_yaw, LIM.eye_yaw), (pose.eye_pitch, LIM.eye_pitch))
    return all(math.isfinite(v) and r[0] <= v <= r[1] for v, r in pairs)


def test_table_has_sources_and_every_emotion():
    assert TABLE.schema_version == 1 and len(TABLE.sources) >= 10
    assert tuple(TABLE.posture) == CANONICAL_LABELS


def test_quintic_from_rest_is_monotone_and_continuous_when_restarted():
    q = Quintic(0.0, 0.0, 10.0, 0.5)
    xs = [q.state(t / 1000)[0] for t in range(0, 600)]
    assert xs[0] == 0.0 and xs[-1] == 10.0 and all(b >= a - 1e-12 for a, b in itertools.pairwise(xs))
    x, v, a = q.state(0.2)
    r = Quintic(0.2, x, -5.0, 0.4, v, a)
    assert r.state(0.2) == pytest.approx((x, v, a))


def test_20_degree_shift_eyes_first_then_head_without_overshoot():
    ctrl = GazeController(STILL, np.random.default_rng(0))
    ctrl.set_target(0.0, 0.0)
    run(ctrl, 0.0, 1.0)
    ctrl.set_target(20.0, 0.0)
    trace = run(ctrl, 1.0, 3.0)
    at = dict(trace)

    def pose(t: float) -> HeadGaze:
        return at[min(at, key=lambda k: abs(k - t))]

    # the eyes carry most of the shift within 150 ms, while the head has hardly started
    assert pose(1.15).gaze_yaw >= 16.0
    early = pose(1.08)
    assert early.eye_yaw > 15.0 and early.head_yaw < 3.0
    # the head follows and ends near alignment x 20 deg; gaze stays on the target meanwhile (VOR)
    final = trace[-1][1]
    assert final.head_yaw == pytest.approx(TABLE.head.alignment * 20.0, abs=0.05)
    assert final.gaze_yaw == pytest.approx(20.0, abs=1e-6)
    heads = [p.head_yaw for _, p in trace]
    assert max(heads) <= final.head_yaw + 1e-9, "head overshoot"
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(heads)), "head not monotone"
    after_saccade = [p.gaze_yaw for t, p in trace if t >= 1.1]
    assert max(abs(g - 20.0) for g in after_saccade) < 1e-6
    # main sequence: the saccade lasts base + per_degree x 20 and its peak velocity is plausible
    gaze = np.array([p.gaze_yaw for _, p in trace])
    peak = np.max(np.diff(gaze)) * 1000.0
    assert 300.0 < peak < 700.0


def test_small_shift_moves_only_the_eyes():
    ctrl = GazeController(STILL, np.random.default_rng(0))
    ctrl.set_target(8.0, 0.0)
    trace = run(ctrl, 0.0, 1.0)
    assert max(abs(p.head_yaw) for _, p in trace) < 1e-9
    assert trace[-1][1].eye_yaw == pytest.approx(8.0)


def gaze_error(synth: Synthesizer, target: tuple[float, float]) -> float:
    hg = synth.head_gaze
    return math.hypot(hg.gaze_yaw - target[0], hg.gaze_pitch - target[1])


def test_gaze_averts_while_thinking_and_returns_with_the_answer():
    synth = Synthesizer(seed=3)
    target = (5.0, 0.0)
    synth.set_look_at(*target)
    fps = 60.0
    frames = {}
    events = {0.5: lambda t: synth.set_user_speaking(True, t), 3.0: lambda t: synth.set_user_speaking(False, t),
              4.5: lambda t: synth.set_weights({"happiness": 0.6}, t)}
    for i in range(round(6.0 * fps)):
        t = i / fps
        for at, event in events.items():
            if abs(t - at) < 0.5 / fps:
                event(t)
        synth.step_array(t)
        frames[round(t, 3)] = (synth.head_gaze, gaze_error(synth, target))
    thinking = [frames[k] for k in frames if 3.0 + TABLE.behaviour.thinking.latency + 0.15 <= k < 4.5]
    assert thinking and min(err for _, err in thinking) >= 8.0, "no aversion while thinking"
    assert all(hg.gaze_pitch > target[1] for hg, _ in thinking), "thinking aversion is not upward"
    back = [err for k, (_, err) in frames.items() if 4.5 + 0.2 <= k < 5.0]
    assert max(back) < 2.0, "gaze did not return after the answer"


def test_listening_looks_at_the_person_about_as_often_as_people_do():
    ctrl = GazeController(rng=np.random.default_rng(7))
    ctrl.set_target(0.0, 0.0)
    ctrl.set_state("listening", 0.0)
    on = total = 0
    for i in range(900 * 30):
        pose = ctrl.step(i / 30.0)
        on += math.hypot(pose.gaze_yaw, pose.gaze_pitch) < 3.0
        total += 1
    assert abs(on / total - TABLE.behaviour.listening.look_fraction) < 0.08


def mean_pose(weights: dict[str, float], seed: int = 1) -> tuple[float, float]:
    synth = Synthesizer(seed=seed)
    synth.set_look_at(0.0, 0.0)
    synth.set_weights(weights, 0.0)
    heads, gazes = [], []
    for i in range(round(5.0 * 60)):
        synth.step_array(i / 60.0)
        if i >= 180:
            heads.append(synth.head_gaze.head_pitch)
            gazes.append(synth.head_gaze.gaze_pitch)
    return float(np.mean(heads)), float(np.mean(gazes))


def test_sadness_lowers_head_and_gaze_happiness_lifts():
    neutral_head, neutral_gaze = mean_pose({"neutral": 1.0})
    sad_head, sad_gaze = mean_pose({"sadness": 1.0})
    happy_head, _ = mean_pose({"happiness": 1.0})
    assert sad_head < neutral_head - 5.0 and sad_gaze < neutral_gaze - 3.0
    assert happy_head > neutral_head + 1.0


def test_listening_nod_at_the_pause():
    def pitches(seed: int, pause: bool) -> list[float]:
        synth = Synthesizer(seed=seed)
        synth.set_look_at(0.0, 0.0)
        synth.set_user_speaking(True, 0.0)
        out = []
        for i in range(round(3.0 * 60)):
            t = i / 60.0
            if pause and i == 60:
                synth.set_user_speaking(False, t)
            synth.step_array(t)
            out.append(synth.head_gaze.head_pitch)
        return out

    nods = 0
    for seed in range(6):
        dip = min(pitches(seed, True)[60:120]) - min(pitches(seed, False)[60:120])
        nods += dip < -2.0
    assert nods >= 3  # probability 0.7 per pause


def test_large_gaze_shifts_bring_blinks():
    au45 = None
    hits = 0
    for seed in range(10):
        synth = Synthesizer(seed=seed)
        au45 = synth.channels.index("AU45")
        synth.set_look_at(-20.0, 0.0)
        for i in range(round(60 * 2.0)):
            synth.step_array(i / 60.0)
        synth.set_look_at(30.0, 0.0)
        closed = max(synth.step_array(2.0 + i / 60.0)[au45] for i in range(18))
        hits += closed > 0.5
    assert hits >= 6


def test_deterministic_per_seed():
    def trace(seed: int) -> list[HeadGaze]:
        synth = Synthesizer(seed=seed)
        synth.set_look_at(10.0, 3.0)
        out = []
        for i in range(600):
            if i == 200:
                synth.set_user_speaking(True, i / 60)
            if i == 400:
                synth.set_user_speaking(False, i / 60)
            synth.step_array(i / 60)
            out.append(synth.head_gaze)
        return out

    assert trace(4) == trace(4)
    assert trace(4) != trace(5)


def test_static_mode_keeps_head_still():
    synth = Synthesizer(mode="static")
    synth.set_look_at(30.0, 10.0)
    for i in range(60):
        synth.step_array(i / 60)
    assert synth.head_gaze == HeadGaze()


finite = st.floats(allow_nan=True, allow_infinity=True, width=64)
angles = st.one_of(finite, st.floats(-1e6, 1e6), st.sampled_from([170.0, -179.0, 180.0, 95.0, -95.0, 360.0]),
                   st.none())
ops = st.lists(st.one_of(
    st.tuples(st.just("target"), angles, angles),
    st.tuples(st.just("state"), st.sampled_from(["idle", "listening", "speaking", "thinking"]), st.none()),
    st.tuples(st.just("pause"), st.none(), st.none()),
    st.tuples(st.just("step"), st.floats(0.0, 5.0), st.lists(finite, min_size=8, max_size=8)),
), max_size=60)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_angles_stay_within_limits_under_hostile_input(operations):
    ctrl = GazeController(rng=np.random.default_rng(0))
    t = 0.0
    for kind, a, b in operations:
        if kind == "target":
            ctrl.set_target(a, b)
        elif kind == "state":
            ctrl.set_state(a, t)
        elif kind == "pause":
            ctrl.pause(t)
        else:
            t += a
            assert within_limits(ctrl.step(t, np.asarray(b)))
        for _ in range(3):
            t += 1 / 60
            assert within_limits(ctrl.step(t))


@settings(max_examples=60, deadline=None)
@given(angles, angles, st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=5))
def test_synthesizer_head_gaze_within_limits(yaw, pitch, times):
    synth = Synthesizer(seed=0)
    synth.set_look_at(yaw, pitch)
    synth.set_weights({"sadness": 1.0, "disgust": 1.0, "contempt": 1.0, "anger": 1.0}, 0.0)
    for t in [*times, math.nan, math.inf]:
        synth.step_array(t)
        assert within_limits(synth.head_gaze)


def test_targets_behind_the_head_are_looked_at_as_far_as_possible():
    ctrl = GazeController(STILL, np.random.default_rng(0))
    ctrl.set_target(170.0, 0.0)
    pose = run(ctrl, 0.0, 3.0)[-1][1]
    assert pose.head_yaw > 10.0 and pose.eye_yaw > 10.0 and within_limits(pose)
    assert not ctrl.set_target(math.nan, 0.0) and ctrl.ignored_targets == 1


# -- target geometry ----------------------------------------------------------------------------
def test_face_at_the_centre_is_straight_ahead_and_right_of_image_is_negative_yaw():
    cam = Camera.from_fov(640, 480, 60.0)
    centre = Face(320 - 50, 240 - 0.4 * 100, 100, 100)
    yaw, pitch = cam.direction(centre)
    assert yaw == pytest.approx(0.0, abs=1e-9) and pitch == pytest.approx(0.0, abs=1e-9)
    edge = Face(640 - 100, 240 - 40, 100, 100)  # centred at u = 590: right of the image
    yaw, _ = cam.direction(edge)
    assert yaw == pytest.approx(-math.degrees(math.atan(270 / cam.fx)), abs=1e-6) and yaw < 0


def test_camera_info_matches_fov_and_offset_gives_parallax():
    fov = Camera.from_fov(640, 480, 60.0)
    k = Camera.from_k([fov.fx, 0, 320, 0, fov.fy, 240, 0, 0, 1])
    face = Face(100, 50, 80, 80)
    assert k.direction(face) == pytest.approx(fov.direction(face))
    # camera 10 cm above the head's pivot, person straight ahead of the camera at 1 m
    above = Camera.from_fov(640, 480, 60.0, offset=(0.0, 0.0, 0.1))
    w = above.fx * 0.15 / 1.0
    yaw, pitch = above.direction(Face(320 - w / 2, 240 - 0.4 * w, w, w))
    assert yaw == pytest.approx(0.0, abs=1e-9) and pitch == pytest.approx(math.degrees(math.atan(0.1)), abs=1e-6)
    with pytest.raises(ValueError):
        Camera.from_k([0.0] * 9)


def test_selector_speaking_largest_hysteresis_and_lost():
    sel = TargetSelector(Camera.from_fov(640, 480, 60.0), lost_after=1.0)
    small, big = Face(10, 10, 60, 60, "a"), Face(400, 100, 100, 100, "b")
    left = sel.update([small, big], 0.0)
    assert sel.face_id == "b" and left is not None and left[0] < 0
    sel.update([small, big], 0.1, speaking_id="a")
    assert sel.face_id == "a"
    sel.update([Face(10, 10, 90, 90, "a"), Face(400, 100, 100, 100, "b")], 0.2)
    assert sel.face_id == "a", "a similar-sized other face must not steal the gaze"
    sel.update([Face(10, 10, 40, 40, "a"), big], 0.3)
    assert sel.face_id == "b"
    assert sel.update([Face(0, 0, 0, 10, "bad"), Face(math.nan, 0, 10, 10)], 0.8) is not None
    assert sel.update([], 1.4) is None and sel.face_id == ""


def test_point_direction():
    assert point_direction(1.0, 1.0, 0.0) == pytest.approx((45.0, 0.0))
    assert point_direction(0.0, 0.0, 0.0) is None and point_direction(math.nan, 0, 0) is None


def test_gaze_table_rejects_bad_data():
    raw = TABLE.model_dump()
    raw["limits"]["eye_yaw"] = [10.0, -10.0]
    with pytest.raises(ValueError):
        GazeTable.model_validate(raw)
