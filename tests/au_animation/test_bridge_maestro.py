"""Maestro output through a pty standing in for the serial port; the test decodes the exact bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from au_animation.bridges.frames import split
from au_animation.bridges.pipeline import BridgeConfig, BridgeSet
from maestro_wire import MAP, NEUTRAL_QUS, Pty, decode, poses


@pytest.fixture
def pty_pair():
    pair = Pty()
    yield pair
    pair.close()


def test_cli_drives_maestro_safely(pty_pair: Pty) -> None:
    rows = [{"t": i / 60.0, "curves": {"AU26": 1.0, "AU27": 1.0, "AU12": 1.0, "AU04": float("nan") if i % 7 else 1.0}}
            for i in range(30)]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    proc = subprocess.run([sys.executable, "-m", "au_animation.bridge_cli", "--maestro", pty_pair.path,
                           "--servo-rate-hz", "50", "--input-timeout", "0.2"], input=text,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    commands = decode(pty_pair.read())
    # On connect: hardware speed limits from the map (quarter-us per 10 ms), one per channel.
    speeds = [c for c in commands[:len(MAP.channels)]]
    assert speeds == [("speed", c.channel, round(c.max_slew * 4 / 100)) for c in MAP.channels]
    sequence = poses(commands[len(MAP.channels):])
    assert sequence[0] == NEUTRAL_QUS and sequence[-1] == NEUTRAL_QUS  # neutral on start and on stop
    low = [round(c.min * 4) for c in MAP.channels]
    high = [round(c.max * 4) for c in MAP.channels]
    for pose in sequence:
        assert all(lo <= v <= hi for lo, v, hi in zip(low, pose, high, strict=True))
    jaw = [c.name for c in MAP.channels].index("jaw")
    assert max(p[jaw] for p in sequence) > NEUTRAL_QUS[jaw] + 4 * 200  # the jaw did open
    # slew: steps at 50 Hz, max dt 0.1 s, in quarter-us (+1 for rounding)
    steps = np.abs(np.diff(np.array(sequence), axis=0))
    bound = np.array([c.max_slew * 4 * 0.1 + 1 for c in MAP.channels])
    assert np.all(steps <= bound)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["maestro.errors"] == 0 and summary["maestro.sent"] == len(sequence)


def test_port_absent_then_appearing_then_vanishing(tmp_path: Path) -> None:
    link = tmp_path / "ttyACM0"
    clock = [0.0]
    bridges = BridgeSet(BridgeConfig(maestro=str(link)), clock=lambda: clock[0])
    health = bridges.maestro.health
    bridges.start()  # device absent: no exception, counted
    assert health.errors == 1 and not health.up and "ttyACM0" in health.last_error
    for _ in range(5):
        clock[0] += 0.02
        bridges.tick()
    assert health.errors == 1 and health.dropped == 6  # waiting for the backoff, not hammering the port
    first = Pty()
    second = Pty()
    try:
        link.symlink_to(first.path)
        clock[0] += 1.0
        bridges.push(split({"AU26": 1.0}))
        bridges.tick()
        assert health.up and health.reconnects == 1
        commands = decode(first.read(quiet=0.1))
        assert commands[0][0] == "speed" and poses(commands[len(MAP.channels):])
        # The device disappears (unplugged): the next writes fail, the bridge keeps running.
        first.close()
        link.unlink()
        for _ in range(3):
            clock[0] += 0.02
            bridges.tick()
        assert not health.up and health.errors >= 2
        link.symlink_to(second.path)
        clock[0] += 10.0
        bridges.tick()
        assert health.up and health.reconnects == 2
        assert decode(second.read(quiet=0.1))[0][0] == "speed"
    finally:
        bridges.close(sleep=lambda s: clock.__setitem__(0, clock[0] + s))
        first.close()
        second.close()


def test_pololu_protocol_device_number() -> None:
    from au_animation.bridges.maestro import set_speed, set_target

    assert set_target(5, 1500) == bytes([0x84, 5, 6000 & 0x7F, 6000 >> 7])
    assert set_target(5, 1500, device=12) == bytes([0xAA, 12, 0x04, 5, 6000 & 0x7F, 6000 >> 7])
    assert set_speed(0, 2500) == bytes([0x87, 0, 100, 0])
    with pytest.raises(ValueError):
        set_target(24, 1500)
    with pytest.raises(ValueError):
        set_target(0, 5000)


def test_quarter_microsecond_rounding_stays_inside_limits(pty_pair: Pty, tmp_path: Path) -> None:
    import yaml

    data = MAP.model_dump(exclude_none=True)
    data["channels"] = [{**data["channels"][4], "min": 1000.1, "neutral": 1000.1, "max": 1099.9}]
    path = tmp_path / "odd.yaml"
    path.write_text(yaml.safe_dump(data))
    clock = [0.0]
    bridges = BridgeSet(BridgeConfig(maestro=pty_pair.path, servo_map=str(path)), clock=lambda: clock[0])
    bridges.start()
    bridges.push(split({"AU27": 1.0}))
    for _ in range(20):
        clock[0] += 0.02
        bridges.tick()
    bridges.close(sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    values = [v for cmd, _, v in decode(pty_pair.read(quiet=0.1)) if cmd == "target"]
    assert min(values) == 4001 and max(values) == 4399  # ceil(1000.1 * 4), floor(1099.9 * 4)
