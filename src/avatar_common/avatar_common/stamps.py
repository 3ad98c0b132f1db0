"""Time stamps as (sec, nanosec) pairs, the one conversion every package uses.

A builtin_interfaces/Time keeps nanosec in [0, 1e9): rounding a fraction up to 1e9 must carry into
the seconds, and negative times borrow, or a stamp can jump a second back (a bug the audio capture
had). Pure: the rclpy side (node_utils.stamp_msg / stamp_seconds) wraps these two.
"""

from __future__ import annotations

import math

NS_PER_S = 1_000_000_000


def split_ns(nanoseconds: int) -> tuple[int, int]:
    """(sec, nanosec) with 0 <= nanosec < 1e9 for an integer nanosecond count (negative borrows)."""
    sec, nanosec = divmod(int(nanoseconds), NS_PER_S)
    return sec, nanosec


def split_seconds(seconds: float) -> tuple[int, int]:
    """(sec, nanosec) for float seconds, rounded to the nearest nanosecond; ValueError if not finite."""
    if not math.isfinite(seconds):
        raise ValueError(f"time stamp {seconds!r} is not finite")
    return split_ns(round(seconds * NS_PER_S))


def to_seconds(sec: int, nanosec: int) -> float:
    return float(sec) + float(nanosec) * 1e-9


def to_ns(sec: int, nanosec: int) -> int:
    return int(sec) * NS_PER_S + int(nanosec)
