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


def gap_limit_s() -> float:
    """The largest allowed gap between AU frames: 100 ms, or 250 ms while the machine is overloaded
    (load average over twice its cores): there bench/soak.py measures gaps over 100 ms with no fault
    at all, from the scheduler alone."""
    return 0.25 if os.getloadavg()[0] > 2 * (os.cpu_count() or 1) else 0.1


def stream_problems(frames: list[Any], max_gap_s: float | None = None) -> list[str]:
    """What is wrong with an AU stream: gaps between consecutive stamps, values outside [0,1] or NaN."""
    max_gap_s = gap_limit_s() if max_gap_s is None else max_gap_s
    problems = []
    stamps = [stamp_s(f) for f in frames]
    for a, b in itertools.pairwise(stamps):
        if b - a > max_gap_s:
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
