"""Helpers for tests that run `avatar-stack --processes` as a real command: start, child pids from
/diagnostics, AU stream checks on the synthesizer's own stamps, ordered stop."""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray

VENV_BIN = Path(sys.executable).parent
NS = "/avatar"


class StackProcess:
    """`avatar-stack --processes ARGS` with its stderr in a file (children write there too)."""

    def __init__(self, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path = tmp_path / "stack.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([str(VENV_BIN / "avatar-stack"), "--processes", *args], stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, env=env)

    def log(self) -> str:
        return self.log_path.read_text()

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Signal the stack; (exit status, seconds until it exited)."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
        return code, time.monotonic() - sent

    def close(self) -> None:
        if self.proc.poll() is None:
            self.terminate()
        self._log.close()


class ProcessDiagnostics:
    """The supervisor's per-child entries on /diagnostics: pid, restarts, level."""

    def __init__(self, ros: Any) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        ros.tester.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith(" (process)"):
                name = status.name.removesuffix(" (process)").rsplit("/", 1)[-1]
                level = status.level[0] if isinstance(status.level, bytes) else int(status.level)
                values = {kv.key: kv.value for kv in status.values}
                self.latest[name] = {"level": level, "message": status.message, **values}

    def pid(self, name: str) -> int | None:
        value = self.latest.get(name, {}).get("pid")
        return int(value) if value else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stamp_s(msg: Any) -> float:
    from avatar_common.node_utils import stamp_seconds

    return stamp_seconds(msg.header.stamp)


REFERENCE_SCRIPT = """
import rclpy
from std_msgs.msg import Header
rclpy.init()
node = rclpy.create_node("reference_ticks")
pub = node.create_publisher(Header, "/test_reference_ticks", 100)
node.create_timer(1 / 60, lambda: pub.publish(Header(stamp=node.get_clock().now().to_msg())))
try:
    rclpy.spin(node)
except BaseException:
    pass
"""


class ReferenceTicks:
    """A bare 60 Hz rclpy timer in its own process, beside the stack: when it stalls at the same
    moment as the AU stream, the machine (scheduler, other processes) stalled, not the stack. On a
    shared 2-core machine under load 10+ gaps over 100 ms happen with no fault at all (bench/soak.py)."""

    def __init__(self, ros: Any) -> None:
        from avatar_common.node_utils import stamp_seconds
        from std_msgs.msg import Header

        self.stamps: list[float] = []
        ros.tester.create_subscription(Header, "/test_reference_ticks",
                                       lambda m: self.stamps.append(stamp_seconds(m.stamp)), 1000)
        self.proc = subprocess.Popen([sys.executable, "-c", REFERENCE_SCRIPT], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def stalled(self, start: float, end: float, margin_s: float = 0.1, late_s: float = 0.04) -> bool:
        """True when the reference was held up too (a gap over `late_s`, 2.4 periods) around [start, end]."""
        around = [t for t in self.stamps if start - margin_s <= t <= end + margin_s]
        return len(around) < 2 or max(b - a for a, b in itertools.pairwise(around)) > late_s

    def rate_hz(self, start: float, end: float) -> float:
        ticks = [t for t in self.stamps if start <= t <= end]
        return (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 1 and ticks[-1] > ticks[0] else 0.0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def gap_limit_s(ros: Any, frames: list[Any], seconds: float = 3.0) -> float:
    """100 ms, or 1.5 times the largest gap of the same stream in a quiet window before any fault:
    the margin a loaded shared machine needs (its scheduler alone makes gaps over 100 ms at load 10)."""
    start = len(frames)
    ros.spin_for(seconds)
    stamps = [stamp_s(f) for f in frames[start:]]
    quiet = max((b - a for a, b in itertools.pairwise(stamps)), default=0.0)
    return max(0.1, 1.5 * quiet)


def stream_problems(frames: list[Any], reference: ReferenceTicks | None = None, max_gap_s: float = 0.1) -> list[str]:
    """What is wrong with an AU stream: gaps over `max_gap_s` between consecutive stamps (unless the
    `reference` stalled at the same time), values outside [0,1] or NaN, names and values of unequal length."""
    problems = []
    stamps = [stamp_s(f) for f in frames]
    for a, b in itertools.pairwise(stamps):
        if b - a > max_gap_s and not (reference is not None and reference.stalled(a, b)):
            problems.append(f"gap of {1000 * (b - a):.0f} ms at stamp {a:.3f}")
    for f in frames:
        bad = [v for v in f.intensities if not (math.isfinite(v) and 0.0 <= v <= 1.0)]
        if bad or len(f.names) != len(f.intensities):
            problems.append(f"frame at {stamp_s(f):.3f}: {len(f.names)} names, {len(f.intensities)} values, "
                            f"bad {bad[:3]}")
    return problems


def rate_hz(frames: list[Any]) -> float:
    stamps = [stamp_s(f) for f in frames]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
