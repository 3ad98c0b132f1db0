"""Pololu Maestro USB servo controller: serial command encoding and a reconnecting port.

Compact protocol (Pololu Maestro user's guide, "Serial Servo Commands"); all data bytes are 7-bit:
    Set Target        0x84, channel, target & 0x7F, (target >> 7) & 0x7F
                      target in quarter-microseconds (1500 us -> 6000); 0 = stop sending pulses
    Set Speed         0x87, channel, speed & 0x7F, (speed >> 7) & 0x7F
                      speed limit in (0.25 us) / (10 ms); 0 = unlimited
    Set Acceleration  0x89, channel, accel & 0x7F, (accel >> 7) & 0x7F
                      in (0.25 us) / (10 ms) / (80 ms), 0..255; 0 = unlimited
Pololu protocol (several devices on one line): 0xAA, device number, command & 0x7F, same data.
The port is the Maestro's "Command Port" (/dev/ttyACM0 on Linux); its baud rate is ignored on USB.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from au_animation.bridges.health import TargetHealth

LOG = logging.getLogger(__name__)

SET_TARGET = 0x84
SET_SPEED = 0x87
SET_ACCELERATION = 0x89
MAX_14BIT = 0x3FFF


def _command(command: int, channel: int, value: int, device: int | None) -> bytes:
    if not 0 <= channel <= 23:
        raise ValueError(f"Maestro channel {channel} out of 0..23")
    if not 0 <= value <= MAX_14BIT:
        raise ValueError(f"Maestro value {value} out of 0..{MAX_14BIT}")
    data = bytes([channel, value & 0x7F, (value >> 7) & 0x7F])
    if device is None:
        return bytes([command]) + data
    return bytes([0xAA, device & 0x7F, command & 0x7F]) + data


def set_target(channel: int, microseconds: float, device: int | None = None) -> bytes:
    """Set Target for a pulse width in microseconds (rounded to a quarter-microsecond)."""
    return _command(SET_TARGET, channel, round(microseconds * 4), device)


def set_speed(channel: int, us_per_s: float, device: int | None = None) -> bytes:
    """Set Speed from a slew limit in microseconds per second (0 = unlimited)."""
    value = 0 if us_per_s <= 0 else max(1, min(MAX_14BIT, round(us_per_s * 4 / 100)))
    return _command(SET_SPEED, channel, value, device)


def set_acceleration(channel: int, value: int, device: int | None = None) -> bytes:
    return _command(SET_ACCELERATION, channel, max(0, min(255, int(value))), device)


def targets_command(channels: Sequence[int], microseconds: Sequence[float], device: int | None = None) -> bytes:
    """Set Target for several channels, concatenated so one write() sends a whole pose."""
    return b"".join(set_target(c, us, device) for c, us in zip(channels, microseconds, strict=True))


class MaestroPort:
    """Serial port to a Maestro that reopens with backoff when it is absent or disappears.

    `on_connect()` returns bytes written first after every (re)connection (speed limits).
    Nothing here raises on I/O errors: they are counted in `health`.
    """

    def __init__(self, device: str, baudrate: int = 115200, on_connect: Callable[[], bytes] | None = None,
                 write_timeout: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        self.device = device
        self.baudrate = baudrate
        self.on_connect = on_connect
        self.write_timeout = write_timeout
        self.health = TargetHealth("maestro", clock=clock)
        self._clock = clock
        self._port = None

    def _open(self, now: float) -> bool:
        import serial  # pyserial; imported here so the encoders work without it

        try:
            port = serial.Serial(self.device, self.baudrate, timeout=0, write_timeout=self.write_timeout)
            if self.on_connect is not None:
                port.write(self.on_connect())
        except (OSError, ValueError, serial.SerialException) as exc:
            self._fail(exc, now)
            return False
        self._port = port
        self.health.connected()
        LOG.info("maestro: opened %s", self.device)
        return True

    def _fail(self, exc: BaseException, now: float) -> None:
        delay = self.health.fail(exc, now)
        if self.health.log_text:
            LOG.warning("maestro %s: %s (retrying with backoff, %.2f s)", self.device, self.health.log_text, delay)
        self._close_port()

    def _close_port(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:
                LOG.debug("maestro: close failed", exc_info=True)
            self._port = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open_if_due(self, now: float) -> bool:
        """Open the port when it is down and a retry is due; True when it was (re)opened just now,
        i.e. the servos' pose is unknown and the next command must be the neutral pose."""
        return self._port is None and self.health.retry_due(now) and self._open(now)

    def write(self, data: bytes, now: float | None = None) -> bool:
        """Write a command; False when the port is down (retried later) or the write failed."""
        import serial

        now = self._clock() if now is None else now
        if self._port is None and (not self.health.retry_due(now) or not self._open(now)):
            self.health.dropped += 1
            return False
        try:
            self._port.write(data)
        except (OSError, serial.SerialException) as exc:
            self._fail(exc, now)
            return False
        self.health.ok(len(data))
        return True

    def close(self) -> None:
        self._close_port()
