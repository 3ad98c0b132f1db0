"""Supervision of the graph's node processes: restart with back-off, bookkeeping, stop order.

Pure module (no rclpy, no processes): `avatar_bringup.processes` drives it with real child
processes and the clock, the launch file takes its first restart delay for `respawn_delay`, and
the tests run it on plain numbers.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass, field

# A node is back quickly after a crash, but one that dies at once on every start (a bad model, a
# missing device) must not spin the CPU: the delay doubles up to a ceiling, and a node that ran
# `stable_s` seconds counts as healthy again.
RESPAWN_DELAY_S = 0.5
MAX_DELAY_S = 30.0
STABLE_S = 60.0
EXIT_CONFIG = 78  # sysexits EX_CONFIG: the node refused its configuration, restarting cannot help


@dataclass(frozen=True)
class RestartPolicy:
    """Back-off: `initial_s`, times `factor` per consecutive failure, at most `max_s`."""

    initial_s: float = RESPAWN_DELAY_S
    factor: float = 2.0
    max_s: float = MAX_DELAY_S
    stable_s: float = STABLE_S

    def delay(self, consecutive: int) -> float:
        """Seconds to wait before restart number `consecutive` (1 = the first after a healthy run)."""
        return min(self.max_s, self.initial_s * self.factor ** max(0, consecutive - 1))


@dataclass
class Child:
    """What the supervisor knows about one node's process."""

    name: str
    running: bool = False
    pid: int | None = None
    started_at: float | None = None
    restart_at: float | None = None  # when a dead child is due to start again
    restarts: int = 0  # over the whole run
    consecutive: int = 0  # failures without a stable run in between
    last_exit: str = ""
    given_up: str = ""  # why it is not restarted any more


def describe_exit(code: int) -> str:
    """'exit status 1' or 'signal SIGKILL' (Popen reports a signal as a negative code)."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


@dataclass
class Supervisor:
    """Which children to start when. The caller starts/polls processes and reports back."""

    names: Sequence[str]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    stopping: bool = False

    def __post_init__(self) -> None:
        self.children = {name: Child(name, restart_at=0.0) for name in self.names}

    def due(self, now: float) -> list[str]:
        """Children to start now, in graph order (initially all of them)."""
        if self.stopping:
            return []
        return [c.name for c in self.children.values()
                if not c.running and not c.given_up and c.restart_at is not None and c.restart_at <= now]

    def started(self, name: str, pid: int, now: float) -> None:
        child = self.children[name]
        child.running, child.pid, child.started_at, child.restart_at = True, pid, now, None

    def exited(self, name: str, code: int, now: float) -> float | None:
        """Record a child's exit; return the restart delay, or None when it stays down."""
        child = self.children[name]
        child.running, child.pid = False, None
        child.last_exit = describe_exit(code)
        if self.stopping:
            return None
        if code == EXIT_CONFIG:
            child.given_up = "its configuration was refused (see its log)"
            return None
        ran = 0.0 if child.started_at is None else now - child.started_at
        child.consecutive = 1 if ran >= self.policy.stable_s else child.consecutive + 1
        child.restarts += 1
        delay = self.policy.delay(child.consecutive)
        child.restart_at = now + delay
        return delay

    def stop_order(self) -> list[str]:
        """Running children, last started first: consumers stop before their producers."""
        self.stopping = True
        return [c.name for c in reversed(list(self.children.values())) if c.running]

    def status(self, name: str, now: float) -> tuple[int, str, dict[str, str]]:
        """(level 0/1/2, message, values) of one child, for /diagnostics."""
        child = self.children[name]
        values = {"pid": str(child.pid or ""), "restarts": str(child.restarts), "last_exit": child.last_exit}
        if child.given_up:
            return 2, f"down: {child.given_up}", values
        if not child.running or child.started_at is None:
            wait = max(0.0, (now if child.restart_at is None else child.restart_at) - now)
            return 2, f"down ({child.last_exit}); restarting in {wait:.1f} s", values
        uptime = now - child.started_at
        values["uptime_s"] = f"{uptime:.0f}"
        if child.restarts and uptime < self.policy.stable_s:
            return 1, f"running, restarted after {child.last_exit}", values
        return 0, "running", values
