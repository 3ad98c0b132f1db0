"""Servo safety layer: whatever the AU stream does (NaN, bursts, gaps), commands stay in limits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import yaml
from au_animation.bridges.servo import ServoMap, ServoSafety, builtin_maps, load_servo_map
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

MAP = load_servo_map("simple_head")
AU_NAMES = sorted({n for c in MAP.channels for n in c.inputs} | {"AU01L", "AU12", "AU26R", "AU45"})

intensity = st.one_of(
    st.floats(min_value=0.0, max_value=1.0),
    st.sampled_from([math.nan, math.inf, -math.inf, -5.0, 7.0]),
)
event = st.one_of(
    # a frame after `dt` seconds (0 = part of a burst)
    st.tuples(st.just("frame"), st.sampled_from([0.0, 0.0, 0.001, 0.016, 0.02, 0.3, 2.0]),
              st.dictionaries(st.sampled_from(AU_NAMES), intensity, max_size=8)),
    # a servo tick after `dt` seconds (long dt = input gap or stalled loop)
    st.tuples(st.just("tick"), st.sampled_from([0.0, 0.005, 0.02, 0.02, 0.02, 0.1, 0.7, 5.0]), st.just({})),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event, min_size=1, max_size=80), timeout=st.sampled_from([0.1, 0.5, 2.0]))
def test_commands_within_limits_and_slew(events: list, timeout: float) -> None:
    safety = ServoSafety(MAP, timeout=timeout, max_dt=0.1)
    now = 100.0
    previous: tuple[float, np.ndarray] | None = None
    for kind, dt, aus in events:
        now += dt
        if kind == "frame":
            safety.set_input(aus, {}, now)
            continue
        pose = safety.step(now)
        assert np.all(np.isfinite(pose))
        assert np.all(pose >= safety.low) and np.all(pose <= safety.high)
        if previous is None:
            np.testing.assert_array_equal(pose, safety.neutral)  # neutral on start
        else:
            limit = safety.slew * min(now - previous[0], 0.1)
            assert np.all(np.abs(pose - previous[1]) <= limit + 1e-9)
        previous = (now, pose)
    # Input goes silent: the pose returns to neutral, still slew-limited, in bounded time.
    for _ in range(200):
        now += 0.02
        pose = safety.step(now)
        if previous is not None:
            assert np.all(np.abs(pose - previous[1]) <= safety.slew * min(now - previous[0], 0.1) + 1e-9)
        previous = (now, pose)
    assert safety.timed_out and safety.at_neutral()


def test_targets_follow_aus_and_nan_holds() -> None:
    safety = ServoSafety(MAP, timeout=1.0)
    names = [c.name for c in MAP.channels]
    jaw, lip_l, lip_r = names.index("jaw"), names.index("lip_corner_left"), names.index("lip_corner_right")
    safety.set_input({"AU26": 1.0, "AU12": 0.5, "AU12L": 0.5}, {}, 0.0)
    assert safety.target[jaw] == pytest.approx(1000 + 700 * 0.6)
    assert safety.target[lip_l] == pytest.approx(1500 + 350 * 1.0)  # min(1, 0.5 + 0.5)
    assert safety.target[lip_r] == pytest.approx(1500 + 350 * 0.5)
    safety.set_input({"AU26": math.nan, "AU12": 0.0}, {}, 0.1)
    assert safety.target[jaw] == pytest.approx(1420)  # held
    assert safety.target[lip_l] == pytest.approx(1500) and safety.nan_inputs == 1
    poses = [safety.step(t) for t in np.arange(0.0, 1.0, 0.02)]
    assert poses[-1][jaw] == pytest.approx(1420)


def test_release_ramps_to_neutral_slew_limited() -> None:
    safety = ServoSafety(MAP, timeout=10.0)
    safety.step(0.0)
    safety.set_input({"AU26": 1.0, "AU27": 1.0, "AU12": 1.0}, {}, 0.0)
    t = 0.0
    for _ in range(100):
        t += 0.02
        safety.step(t)
    assert not safety.at_neutral()
    safety.release()
    steps = []
    while not safety.at_neutral() and len(steps) < 1000:
        t += 0.02
        steps.append(safety.step(t))
    assert safety.at_neutral() and 5 < len(steps) < 50
    previous = None
    for pose in steps:
        if previous is not None:
            assert np.all(np.abs(pose - previous) <= safety.slew * 0.02 + 1e-9)
        previous = pose


def _map_dict() -> dict:
    return yaml.safe_load((__import__("importlib").resources.files("au_animation") / "data" / "servo_maps"
                           / "simple_head.yaml").read_text())


@pytest.mark.parametrize("mutate", [
    lambda m: m["channels"][0].update(min=1600),                      # neutral below min
    lambda m: m["channels"][1].update(channel=0),                     # duplicate channel
    lambda m: m["channels"][0].update(max_slew=0),                    # no slew limit
    lambda m: m["channels"][0].update(inputs={}),                     # no input
    lambda m: m["channels"][0].update(max=5000),                      # beyond Maestro range
    lambda m: m.update(sources=[]),                                   # no source
    lambda m: m.update(schema_version=2),
    lambda m: m["channels"][0].update(speed=3),                       # unknown key
])
def test_invalid_maps_are_rejected(mutate) -> None:
    data = _map_dict()
    mutate(data)
    with pytest.raises(ValidationError):
        ServoMap.model_validate(data)


def test_packaged_maps_load_and_unknown_name_fails(tmp_path) -> None:
    assert "simple_head" in builtin_maps()
    for name in builtin_maps():
        assert load_servo_map(name).channels
    with pytest.raises(FileNotFoundError):
        load_servo_map("no_such_head")
    path = tmp_path / "head.yaml"
    data = _map_dict()
    data["channels"] = data["channels"][:1]
    data["channels"][0]["inputs"] = {"jawOpen": 1.0}
    path.write_text(yaml.safe_dump(data))
    custom = load_servo_map(str(path))
    assert custom.uses_blendshapes and len(custom.channels) == 1


def _blendshape_map(tmp_dir) -> str:
    data = _map_dict()
    data["channels"][4]["inputs"] = {"jawOpen": 1.0, "AU27": 0.5}  # through the ARKit retargeting
    path = tmp_dir / "blend_head.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(events=st.lists(event, min_size=1, max_size=60))
def test_bridge_pipeline_servo_output_is_safe(events: list, tmp_path_factory) -> None:
    """The same property end to end through BridgeSet (frames, ticks, blendshape inputs, stop)."""
    from au_animation.bridges.frames import split
    from au_animation.bridges.pipeline import BridgeConfig, BridgeSet

    clock = [10.0]
    out: list[tuple[float, np.ndarray]] = []
    path = _blendshape_map(tmp_path_factory.mktemp("map"))
    bridges = BridgeSet(BridgeConfig(servo_map=path, input_timeout=0.3), clock=lambda: clock[0],
                        servo_sink=lambda now, pose: out.append((now, pose)))
    bridges.start()
    for kind, dt, aus in events:
        clock[0] += dt
        if kind == "frame":
            bridges.push(split({**aus, "jawOpen": aus.get("AU26", 0.0)}))
        else:
            bridges.tick()
    bridges.close(sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    low, high, slew = bridges.servo.low, bridges.servo.high, bridges.servo.slew
    np.testing.assert_array_equal(out[0][1], bridges.servo.neutral)
    np.testing.assert_allclose(out[-1][1], bridges.servo.neutral, atol=1e-6)  # neutral on stop
    for (t0, a), (t1, b) in itertools.pairwise(out):
        assert np.all(b >= low) and np.all(b <= high)
        assert np.all(np.abs(b - a) <= slew * min(t1 - t0, 0.1) + 1e-9)
