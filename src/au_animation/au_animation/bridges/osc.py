"""OSC 1.0 encoding of curve frames for Unreal Engine's OSC plugin (or any OSC server).

Two address schemes:
- "message": one datagram per curve, `<prefix><curve> ,f <value>` (e.g. `/face/CTRL_expressions_jawOpen`);
- "bundle" (default): one `#bundle` per frame holding one such message per curve, so a receiver gets
  a whole frame at once (split into several bundles when it would exceed `max_datagram` bytes).

Wire format (OSC 1.0): strings are ASCII, NUL-terminated and padded with NULs to a multiple of
4 bytes; the type tag string is ",f"; a float is IEEE-754 float32 big-endian. A bundle is
"#bundle\\0", an 8-byte NTP time tag (we send 1 = "immediately"), then per element a big-endian
int32 size and the element. Because every field is 4-byte aligned, a frame is encoded by writing the
float words into a prebuilt template (no per-curve Python work in bundle mode).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

BUNDLE_TAG = b"#bundle\x00"
IMMEDIATELY = struct.pack(">Q", 1)
MODES = ("bundle", "message")


def osc_string(text: str) -> bytes:
    """NUL-terminated, padded to a multiple of 4 (OSC-string)."""
    raw = text.encode("ascii") + b"\x00"
    return raw + b"\x00" * (-len(raw) % 4)


def message_prefix(address: str) -> bytes:
    """Address and type tag of a one-float message; append the float32 to complete it."""
    if not address.startswith("/") or any(c in address for c in " #*,?[]{}"):
        raise ValueError(f"invalid OSC address {address!r}")
    return osc_string(address) + osc_string(",f")


def encode_message(address: str, value: float) -> bytes:
    return message_prefix(address) + struct.pack(">f", value)


class OscEncoder:
    """Encodes frames of `len(names)` floats into OSC datagrams for one address scheme."""

    def __init__(self, names: Sequence[str], prefix: str = "/face/", mode: str = "bundle",
                 max_datagram: int = 8192) -> None:
        if mode not in MODES:
            raise ValueError(f"OSC mode {mode!r} not in {MODES}")
        if max_datagram < 64:
            raise ValueError("max_datagram must be at least 64 bytes")
        self.names = list(names)
        self.mode = mode
        self.addresses = [prefix + name for name in self.names]
        self._prefixes = [message_prefix(a) for a in self.addresses]
        self._bundles: list[tuple[np.ndarray, np.ndarray, slice]] = []
        if mode == "bundle":
            self._build_bundles(max_datagram)

    def _build_bundles(self, max_datagram: int) -> None:
        start = 0
        while start < len(self.names):
            parts = [BUNDLE_TAG, IMMEDIATELY]
            size = 16
            float_offsets = []
            end = start
            while end < len(self.names):
                element = len(self._prefixes[end]) + 4
                if end > start and size + 4 + element > max_datagram:
                    break
                parts.append(struct.pack(">i", element))
                parts.append(self._prefixes[end])
                float_offsets.append(size + 4 + element - 4)
                parts.append(b"\x00\x00\x00\x00")
                size += 4 + element
                end += 1
            template = np.frombuffer(b"".join(parts), dtype=">f4").copy()
            self._bundles.append((template, np.asarray(float_offsets) // 4, slice(start, end)))
            start = end

    def encode(self, values: np.ndarray) -> list[bytes]:
        """Datagrams for one frame; `values` are float32-compatible, same order as `names`."""
        values = np.asarray(values, dtype=np.float32)
        if self.mode == "message":
            packed = values.astype(">f4").tobytes()
            return [p + packed[4 * i:4 * i + 4] for i, p in enumerate(self._prefixes)]
        out = []
        for template, word_index, part in self._bundles:
            template[word_index] = values[part]
            out.append(template.tobytes())
        return out
