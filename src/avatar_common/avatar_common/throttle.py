"""Repeated-message throttling for operators' logs: the first occurrence, then a periodic count.

`Throttle.check(key, now)` says whether to log now and how many were suppressed since the last
line, so an absent Unreal receiver or a flood of bad messages costs a few lines a minute, not one
per frame. Pure (time is passed in), shared by every node and the bridges.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Throttle:
    """At most one line per `period_s` per key; `check()` -> (log now?, suppressed since last line)."""

    period_s: float = 60.0
    _last: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)

    def check(self, key: str, now: float) -> tuple[bool, int]:
        last = self._last.get(key)
        if last is None or now - last >= self.period_s:
            self._last[key] = now
            return True, self._suppressed.pop(key, 0)
        self._suppressed[key] = self._suppressed.get(key, 0) + 1
        return False, 0

    def message(self, key: str, text: str, now: float) -> str | None:
        """`text` to log now (with the suppressed count appended), or None to stay quiet."""
        emit, suppressed = self.check(key, now)
        if not emit:
            return None
        return text if not suppressed else f"{text} ({suppressed} more like this in the last {self.period_s:g} s)"

    def reset(self, key: str) -> None:
        """The condition cleared (e.g. the receiver is back): the next occurrence logs at once."""
        self._last.pop(key, None)
        self._suppressed.pop(key, None)
