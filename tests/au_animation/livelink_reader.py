"""A reader of Live Link Face packets written for the tests, from the layout documented in livelink.py."""

from __future__ import annotations

import struct


def decode_livelink(packet: bytes) -> tuple[list[float], list[float]]:
    """Version-6 packet -> (52 blendshapes, 9 rotations): uint8 version, two big-endian int32-length-prefixed
    UTF-8 strings (device id, subject), frame number, sub-frame, rate numerator / denominator (16 bytes),
    uint8 count = 61, count big-endian float32."""
    assert packet[0] == 6
    pos = 1
    for _ in range(2):
        (length,) = struct.unpack_from(">i", packet, pos)
        pos += 4 + length
    pos += 16
    count = packet[pos]
    values = struct.unpack_from(f">{count}f", packet, pos + 1)
    assert count == 61 and pos + 1 + 4 * count == len(packet)
    return list(values[:52]), list(values[52:])
