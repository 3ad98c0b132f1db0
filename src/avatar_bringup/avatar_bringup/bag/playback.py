"""Playback timing and topic remapping, as plain arithmetic the player node follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from avatar_bringup.bag.errors import BagError


@dataclass(frozen=True)
class PlaybackClock:
    """Maps bag time to wall time: bag time `origin_ns` plays at wall time `wall_origin_ns`, at `rate`x."""

    origin_ns: int
    wall_origin_ns: int
    rate: float = 1.0

    def wall_ns(self, bag_ns: int) -> int:
        return self.wall_origin_ns + round((bag_ns - self.origin_ns) / self.rate)

    def bag_ns(self, wall_ns: int) -> int:
        return self.origin_ns + round((wall_ns - self.wall_origin_ns) * self.rate)


def parse_remaps(items: Sequence[str]) -> dict[str, str]:
    """['/a:=/b', ...] -> {'/a': '/b'}; BagError for a malformed item."""
    out = {}
    for item in items:
        src, sep, dst = item.partition(":=")
        if not sep or not src.strip() or not dst.strip():
            raise BagError(f"bad remap {item!r} (expected FROM:=TO)")
        out[absolute(src.strip())] = absolute(dst.strip())
    return out


def absolute(topic: str) -> str:
    """Topics on the command line may omit the leading slash, as in `ros2 bag`."""
    return topic if topic.startswith("/") else "/" + topic


def check_rate(rate: float) -> float:
    if not rate > 0 or rate == float("inf"):
        raise BagError(f"--rate must be a positive number, got {rate}")
    return rate
