"""Faults the stack must survive, with real processes and real rclpy: a node killed mid-session, an
LLM endpoint that goes away and comes back, a camera file that ends, absent OSC / Live Link
receivers, a servo controller unplugged and plugged back (and a write timeout), a burst of
utterances, and a flood of malformed EmotionStates. Throughout, face/action_units keeps its rate
with no gap over 100 ms (on the synthesizer's own stamps) and every value finite in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from au_animation.bridges.frames import split
from au_animation.bridges.pipeline import BridgeConfig, BridgeSet
from maestro_wire import MAP, NEUTRAL_QUS, Pty, decode, poses

SPEEDS = len(MAP.channels)  # Set Speed commands sent on every (re)connection
SLEW_QUS = np.array([c.max_slew * 4 for c in MAP.channels])  # quarter-us per second


# -- servo controller: unplugged, plugged back, write timeout (pure bridge + a real pty) --------------

def _drive(bridges: BridgeSet, clock: list[float], steps: int, until=None) -> int:
    """Push an open-jaw frame and tick at 50 Hz of the fake clock; stop early when `until()` holds."""
    for n in range(steps):
        clock[0] += 0.02
        bridges.push(split({"AU26": 1.0, "AU27": 1.0}))
        bridges.tick()
        if until is not None and until():
            return n + 1
    return steps


def _assert_neutral_then_ramp(data: bytes) -> None:
    commands = decode(data)
    assert [c[0] for c in commands[:SPEEDS]] == ["speed"] * SPEEDS, commands[:SPEEDS]
    sequence = poses(commands[SPEEDS:])
    assert sequence[0] == NEUTRAL_QUS, f"first Set Target block after the reconnect is {sequence[0]}"
    steps = np.abs(np.diff(np.array(sequence), axis=0))
    assert np.all(steps <= SLEW_QUS * 0.02 + 1), "not slew-limited from neutral"
    jaw = [c.name for c in MAP.channels].index("jaw")
    assert sequence[-1][jaw] > NEUTRAL_QUS[jaw], "the jaw ramps toward its target again"


def test_unplugged_and_plugged_back_starts_from_neutral(tmp_path: Path) -> None:
    link = tmp_path / "ttyACM0"
    clock = [0.0]
    first, second = Pty(), Pty()
    link.symlink_to(first.path)
    bridges = BridgeSet(BridgeConfig(maestro=str(link)), clock=lambda: clock[0])
    health = bridges.maestro.health
    try:
        bridges.start()
        _drive(bridges, clock, 40)
        _assert_neutral_then_ramp(first.read(quiet=0.1))
        first.close()  # unplugged: the device node goes away
        link.unlink()
        _drive(bridges, clock, 20)
        assert not health.up
        link.symlink_to(second.path)  # plugged back
        _drive(bridges, clock, 500, until=lambda: health.up)
        _drive(bridges, clock, 20)
        _assert_neutral_then_ramp(second.read(quiet=0.1))
    finally:
        bridges.close(sleep=lambda s: clock.__setitem__(0, clock[0] + s))
        first.close()
        second.close()


def test_after_a_write_timeout_the_neutral_pose_reaches_the_wire_first() -> None:
    pty = Pty()
    clock = [0.0]
    bridges = BridgeSet(BridgeConfig(maestro=pty.path), clock=lambda: clock[0])
    health = bridges.maestro.health
    try:
        bridges.start()
        # Nobody reads the controller's side: its buffer fills and a write times out.
        _drive(bridges, clock, 100_000, until=lambda: health.errors > 0)
        assert "timeout" in health.last_error.lower(), health.last_error
        pty.read(quiet=0.1)  # the controller drains what it got (the jaw was open)
        _drive(bridges, clock, 500, until=lambda: health.up)
        _drive(bridges, clock, 20)
        _assert_neutral_then_ramp(pty.read(quiet=0.1))
    finally:
        bridges.close(sleep=lambda s: clock.__setitem__(0, clock[0] + s))
        pty.close()
