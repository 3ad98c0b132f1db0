"""The Maestro's serial wire for tests: a pty pair standing in for the port, and decoders of the exact
bytes (compact protocol) into commands and per-channel poses."""

from __future__ import annotations

import os
import select
import time

from au_animation.bridges.servo import load_servo_map

MAP = load_servo_map("simple_head")
NEUTRAL_QUS = [round(c.neutral * 4) for c in MAP.channels]


class Pty:
    """A pty pair: the bridge opens `path` (the slave); the test reads what it wrote from the master."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)

    def read(self, quiet: float = 0.3, limit: float = 10.0) -> bytes:
        data = b""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if self.master < 0:
                break
            ready, _, _ = select.select([self.master], [], [], quiet)
            if not ready:
                break
            try:
                data += os.read(self.master, 65536)
            except OSError:
                break
        return data

    def close(self) -> None:
        """Idempotent: a second close must not close a reused descriptor number."""
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1


def decode(data: bytes) -> list[tuple[str, int, int]]:
    """Compact protocol: 0x84/0x87/0x89, channel, low 7 bits, high 7 bits -> (command, channel, value)."""
    names = {0x84: "target", 0x87: "speed", 0x89: "accel"}
    out = []
    assert len(data) % 4 == 0, data
    for i in range(0, len(data), 4):
        cmd, channel, low, high = data[i:i + 4]
        assert cmd in names and channel < 24 and low < 128 and high < 128, data[i:i + 4]
        out.append((names[cmd], channel, low | (high << 7)))
    return out


def poses(commands: list[tuple[str, int, int]]) -> list[list[int]]:
    """Group target commands into poses (one per channel, in map order)."""
    targets = [c for c in commands if c[0] == "target"]
    n = len(MAP.channels)
    assert len(targets) % n == 0
    out = []
    for i in range(0, len(targets), n):
        group = targets[i:i + n]
        assert [c[1] for c in group] == [c.channel for c in MAP.channels]
        out.append([c[2] for c in group])
    return out
