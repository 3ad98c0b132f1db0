"""Pure helpers of the scripted conversation (`avatar-stack --say`): settling and summaries."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

# Blinks (AU45) never settle; they are the life layer, not the expression.
IGNORED_WHEN_SETTLING = frozenset({"AU45"})


class SettleDetector:
    """True once every AU stayed within `tolerance` for the last `window` seconds.

    Breathing and micro-motion are small; an expression still rising or falling moves by more than
    the tolerance within the window.
    """

    def __init__(self, window: float = 1.0, tolerance: float = 0.03) -> None:
        self.window = window
        self.tolerance = tolerance
        self._frames: deque[tuple[float, dict[str, float]]] = deque()

    def feed(self, t: float, names: Sequence[str], values: Sequence[float]) -> None:
        frame = {n: float(v) for n, v in zip(names, values, strict=False) if n not in IGNORED_WHEN_SETTLING}
        self._frames.append((t, frame))
        while self._frames and self._frames[0][0] < t - 2 * self.window:
            self._frames.popleft()

    def settled(self) -> bool:
        if not self._frames:
            return False
        t_end = self._frames[-1][0]
        recent = [f for t, f in self._frames if t >= t_end - self.window]
        if t_end - self._frames[0][0] < self.window or len(recent) < 2:
            return False
        keys = set().union(*recent)
        return all(
            max(f.get(k, 0.0) for f in recent) - min(f.get(k, 0.0) for f in recent) <= self.tolerance
            for k in keys
        )


def top_items(names: Sequence[str], values: Sequence[float], n: int = 4, floor: float = 0.05,
              exclude: frozenset[str] = frozenset()) -> list[tuple[str, float]]:
    """The `n` largest (name, value) pairs above `floor`, largest first."""
    pairs = [(k, float(v)) for k, v in zip(names, values, strict=False) if k not in exclude and v >= floor]
    return sorted(pairs, key=lambda kv: -kv[1])[:n]


def format_items(items: Sequence[tuple[str, float]]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in items) if items else "(nothing above 0.05)"
