"""Per-target health: counters, last error and reconnect backoff.

A bridge target (UDP receiver, serial port) may be absent or vanish at any time; the bridge must
keep running and retry. `TargetHealth` is the one place that decides when a retry is due, so every
target backs off the same way (exponential, capped, reset on success).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from avatar_common.throttle import Throttle

STABLE_SENDS = 10  # successful sends in a row before the backoff starts over
LOG_INTERVAL_S = 60.0  # the same error is logged at most this often, with the count in between


@dataclass
class Backoff:
    """Exponential backoff: `initial` s after the first failure, doubling up to `maximum` s."""

    initial: float = 0.25
    maximum: float = 5.0
    factor: float = 2.0
    failures: int = 0

    def delay(self) -> float:
        """Seconds to wait after the current number of consecutive failures (0 when healthy)."""
        if self.failures <= 0:
            return 0.0
        return min(self.maximum, self.initial * self.factor ** (self.failures - 1))

    def fail(self) -> float:
        self.failures += 1
        return self.delay()

    def reset(self) -> None:
        self.failures = 0


@dataclass
class TargetHealth:
    """Counters and state of one output target, reported in diagnostics.

    `up` is False after a failure until a retry succeeds; `retry_due(now)` says whether the backoff
    time has passed. Frames skipped while a target is down are counted in `dropped`. The backoff
    grows across reconnections until STABLE_SENDS sends in a row worked (a UDP "connection" to a
    closed port succeeds and fails only on the next send).
    """

    name: str
    clock: Callable[[], float] = time.monotonic
    backoff: Backoff = field(default_factory=Backoff)
    sent: int = 0
    bytes_sent: int = 0
    errors: int = 0
    dropped: int = 0
    reconnects: int = 0
    last_error: str = ""
    last_error_time: float | None = None
    up: bool = False
    next_retry: float = 0.0
    _streak: int = 0
    _log_text: str | None = None
    _throttle: Throttle = field(default_factory=lambda: Throttle(LOG_INTERVAL_S))

    def ok(self, nbytes: int = 0) -> None:
        """Record one successful send; after `STABLE_SENDS` in a row the backoff starts over."""
        self.sent += 1
        self.bytes_sent += nbytes
        self.up = True
        self._streak += 1
        if self._streak >= STABLE_SENDS:
            self.backoff.reset()

    def connected(self) -> None:
        """Record a successful (re)connection (not yet proof of delivery: UDP connects always work)."""
        if self.errors:
            self.reconnects += 1
        self.up = True
        self._streak = 0

    def fail(self, error: BaseException | str, now: float | None = None) -> float:
        """Record a failure; returns the backoff delay before the next retry."""
        now = self.clock() if now is None else now
        self.errors += 1
        self.up = False
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._log_text = self._throttle.message(text, text, now)
        self.last_error = text
        self.last_error_time = now
        self._streak = 0
        delay = self.backoff.fail()
        self.next_retry = now + delay
        return delay

    @property
    def log_text(self) -> str | None:
        """The last failure's log line, or None to stay quiet: each error text once, then at most once a
        minute with the count of repeats (an absent receiver costs a line a minute, not one per retry)."""
        return self._log_text

    def retry_due(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        return now >= self.next_retry

    def as_dict(self) -> dict[str, Any]:
        """Flat key/values for DiagnosticStatus and the CLI's status line."""
        prefix = self.name
        return {
            f"{prefix}.up": self.up,
            f"{prefix}.sent": self.sent,
            f"{prefix}.bytes": self.bytes_sent,
            f"{prefix}.errors": self.errors,
            f"{prefix}.dropped": self.dropped,
            f"{prefix}.reconnects": self.reconnects,
            f"{prefix}.last_error": self.last_error,
        }
