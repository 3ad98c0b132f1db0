"""Head and gaze through the bridges: Live Link rotation slots, eyeLook curves, OSC angles, neck/eye servos."""

from __future__ import annotations

import itertools
import math
import socket
import struct

import numpy as np
import pytest
from au_animation.bridges.frames import Frame, parse_jsonl_row, with_head_gaze
from au_animation.bridges.livelink import ROTATION_NAMES, LiveLinkEncoder
from au_animation.bridges.pipeline import BridgeConfig, BridgeSet
from au_animation.bridges.servo import load_servo_map
from au_animation.retarget import HEAD_GAZE_NAMES, load_head_gaze, load_retarget
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from livelink_reader import decode_livelink

ARKIT = load_retarget("arkit").names
MAP = load_servo_map("simple_head")
GAZE_CHANNELS = {c.name: c for c in MAP.channels if set(c.inputs) & set(HEAD_GAZE_NAMES)}


def test_livelink_packets_carry_head_and_eye_rotations(receiver: socket.socket) -> None:
    bridges = BridgeSet(BridgeConfig(livelink=f"127.0.0.1:{receiver.getsockname()[1]}", livelink_rate_hz=0))
    angles = {"head_yaw": 10.0, "head_pitch": 5.0, "head_roll": -3.0, "eye_yaw": 14.0, "eye_pitch": -6.0}
    bridges.push(Frame(0.0, {"AU12": 0.5}, dict(angles)))
    shapes, rotations = decode_livelink(receiver.recv(4096))
    rad = math.radians
    expected = [rad(10.0), -rad(5.0), rad(-3.0), rad(14.0), rad(6.0), 0.0, rad(14.0), rad(6.0), 0.0]
    assert rotations == pytest.approx(expected, abs=1e-6)  # radians; ARKit pitch is nose-down positive
    assert load_head_gaze().livelink_names == ROTATION_NAMES
    named = dict(zip(ARKIT, shapes, strict=True))
    assert named["eyeLookOutLeft"] == pytest.approx(14.0 / 35.0, abs=1e-6)
    assert named["eyeLookInRight"] == pytest.approx(14.0 / 35.0, abs=1e-6)
    assert named["eyeLookDownLeft"] == pytest.approx(6.0 / 30.0, abs=1e-6)
    assert named["eyeLookInLeft"] == named["eyeLookOutRight"] == named["eyeLookUpLeft"] == 0.0
    assert named["mouthSmileLeft"] > 0.3  # the AUs still arrive
    bridges.push(Frame(1 / 60, {"AU12": 0.5}, {}))  # a frame without angles: straight ahead
    _, rotations = decode_livelink(receiver.recv(4096))
    assert rotations == [0.0] * 9


def test_osc_sends_the_angles_and_metahuman_eye_curves(receiver: socket.socket) -> None:
    bridges = BridgeSet(BridgeConfig(osc=f"127.0.0.1:{receiver.getsockname()[1]}", osc_rate_hz=0))
    bridges.push(Frame(0.0, {}, {"head_yaw": 20.0, "eye_yaw": -7.0}))
    data = b""
    try:
        while True:
            data += receiver.recv(65536)
    except TimeoutError:
        pass
    addr = b"/face/head_yaw\x00\x00,f\x00\x00"
    assert addr in data
    (value,) = struct.unpack_from(">f", data, data.index(addr) + len(addr))
    assert value == pytest.approx(20.0)
    addr = b"/face/CTRL_expressions_eyeLookRightL\x00\x00\x00\x00,f\x00\x00"
    (value,) = struct.unpack_from(">f", data, data.index(addr) + len(addr))
    assert value == pytest.approx(7.0 / 35.0, abs=1e-6)


angle = st.one_of(st.floats(-200.0, 200.0), st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300]))


@settings(max_examples=100, deadline=None)
@given(st.lists(angle, min_size=5, max_size=5))
def test_retargeted_eye_curves_stay_in_range(pose: list[float]) -> None:
    rt = load_head_gaze()
    values = [*rt.arkit(pose), *rt.metahuman(pose)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(math.isfinite(v) for v in rt.livelink(pose))
    packet = LiveLinkEncoder(ARKIT).encode(np.zeros(52), rt.livelink(pose))  # huge angles still pack
    assert all(abs(r) <= math.pi + 1e-6 for r in decode_livelink(packet)[1])  # float32 rounding


event = st.one_of(
    st.tuples(st.just("frame"), st.sampled_from([0.0, 0.001, 0.016, 0.3, 2.0]),
              st.dictionaries(st.sampled_from(HEAD_GAZE_NAMES), angle, max_size=5)),
    st.tuples(st.just("tick"), st.sampled_from([0.0, 0.005, 0.02, 0.02, 0.1, 0.7, 5.0]), st.just({})),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=80))
def test_neck_and_eye_servos_never_exceed_limits_or_slew(events: list) -> None:
    poses: list[tuple[float, np.ndarray]] = []
    now = [50.0]
    bridges = BridgeSet(BridgeConfig(), clock=lambda: now[0], servo_sink=lambda t, p: poses.append((t, p.copy())))
    bridges.start()
    for kind, dt, angles in events:
        now[0] += dt
        if kind == "frame":
            bridges.push(with_head_gaze(Frame(now[0]), [angles.get(n, 0.0) for n in HEAD_GAZE_NAMES]), now[0])
        else:
            bridges.tick(now[0])
    servo = bridges.servo
    for (t0, p0), (t1, p1) in itertools.pairwise(poses):
        limit = servo.slew * min(max(t1 - t0, 0.0), servo.max_dt) + 1e-9
        assert np.all(np.abs(p1 - p0) <= limit)
    for _, p in poses:
        assert np.all(p >= servo.low) and np.all(p <= servo.high)


def test_neck_and_eye_servos_follow_the_angles() -> None:
    poses: list[np.ndarray] = []
    now = [0.0]
    bridges = BridgeSet(BridgeConfig(), clock=lambda: now[0], servo_sink=lambda t, p: poses.append(p.copy()))
    bridges.start()
    row = parse_jsonl_row('{"t": 0, "curves": {"AU12": 0.4}, "head_gaze": {"head_yaw": 20, "head_pitch": -10, '
                          '"eye_yaw": -8}}')
    for i in range(1, 150):
        now[0] = i * 0.02
        bridges.push(Frame(now[0], dict(row.aus), dict(row.curves)), now[0])
        bridges.tick(now[0])
    last = dict(zip((c.name for c in MAP.channels), poses[-1], strict=True))
    assert set(GAZE_CHANNELS) == {"neck_pan", "neck_tilt", "neck_roll", "eye_pan", "eye_tilt"}
    assert last["neck_pan"] == pytest.approx(1500 + 11.11 * 20, abs=0.5)
    assert last["neck_tilt"] == pytest.approx(1500 - 11.11 * 10, abs=0.5)
    assert last["eye_pan"] == pytest.approx(1500 - 11.11 * 8, abs=0.5)
    assert last["neck_roll"] == last["eye_tilt"] == 1500
    joints = MAP.joint_positions(poses[-1])
    names = MAP.joint_names()
    assert joints[names.index("neck_pan_joint")] == pytest.approx(math.radians(20.0), abs=2e-3)
