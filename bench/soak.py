#!/usr/bin/env python3
"""Soak benchmark (prints one JSON object): does the stack run for hours without growing or stalling?

Runs `avatar-stack` (desktop profile without the dashboard; `--processes` for one process per node)
for --minutes of scripted conversation: an utterance every --gap seconds from a fixed script. Every
--sample-s seconds it samples the stack's whole process tree (RSS and CPU from /proc, children
included) and the AU stream seen by this process (rate and the largest gap between consecutive
frame stamps). At the end a linear fit of RSS over time (warm-up sample left out) gives the memory
growth in MB per hour.

With --bag DIR the stack also records the session (`avatar-stack --record DIR`), and the JSON gets
each topic's messages/s and bytes/s (serialized CDR payload, read back from the bag): what crosses
the network when the graph is split across hosts.

Run it without `nice`: the stack inherits the niceness, and the AU gaps then measure how other
processes on the machine starve it rather than the stack itself.

Usage: .venv/bin/python bench/soak.py [--minutes 30] [--sample-s 60] [--gap 6] [--processes] [--bag DIR]
           [--camera VIDEO] [--audio WAV]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

NS = "/avatar"
SCRIPT = [
    "Hi! I just got the job I wanted, I'm so happy!",
    "But my best friend is moving away next week and I'll miss her terribly.",
    "Honestly, the way they treated her at work makes me furious.",
    "Wait, what? They offered her a position here too?",
    "That spider on the wall is creeping me out.",
    "The canteen food today smelled disgusting.",
    "Okay. Let's get back to the schedule for tomorrow.",
    "Thanks for listening, that really helped.",
]
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (from /proc/<pid>/stat parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def tree_usage(root: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds user+system) summed over the live process tree."""
    rss = cpu = 0.0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        cpu += (int(fields[11]) + int(fields[12])) / TICKS
    return rss, cpu


def topic_rates(bag: Path) -> dict[str, dict[str, float]]:
    """Per topic: messages/s and serialized bytes/s over the bag's duration (independent read-back)."""
    from avatar_bringup.bag.reader import open_bag

    counts: dict[str, list[int]] = {}
    with open_bag(bag) as reader:
        duration = max(1e-9, (reader.end_time - reader.start_time) * 1e-9)
        for conn, _stamp, raw in reader.messages():
            entry = counts.setdefault(conn.topic, [0, 0])
            entry[0] += 1
            entry[1] += len(raw)
    return {topic: {"msgs_per_s": round(n / duration, 2), "bytes_per_s": round(size / duration, 1),
                    "bytes_per_msg": round(size / n, 1)}
            for topic, (n, size) in sorted(counts.items(), key=lambda kv: -kv[1][1])}


class Watcher:
    """Publishes the script and watches the AU stream and the text analyses."""

    def __init__(self, context: Any) -> None:
        from avatar_msgs.msg import ActionUnits, AffectAnalysis, Utterance
        from rclpy.node import Node

        self.node = Node("soak", namespace=NS, context=context)
        self._utterance = Utterance
        self.pub = self.node.create_publisher(Utterance, "speech/utterance", 10)
        self.stamps: list[float] = []
        self.analysed = 0
        self.said = 0
        self.bad_values = 0
        self.node.create_subscription(ActionUnits, "face/action_units", self._on_frame, 100)
        self.node.create_subscription(AffectAnalysis, "affect/text_analysis", self._on_analysis, 10)

    def _on_frame(self, msg: Any) -> None:
        from avatar_common.node_utils import stamp_seconds

        self.stamps.append(stamp_seconds(msg.header.stamp))
        self.bad_values += sum(1 for v in msg.intensities if not 0.0 <= v <= 1.0)  # NaN fails too

    def _on_analysis(self, _msg: Any) -> None:
        self.analysed += 1

    def say(self) -> None:
        from avatar_common.node_utils import stamp_msg

        now = stamp_msg(time.time())
        msg = self._utterance(id=f"soak-{self.said}", text=SCRIPT[self.said % len(SCRIPT)], final=True,
                              confidence=1.0, start=now, end=now)
        msg.header.stamp = now
        self.pub.publish(msg)
        self.said += 1

    def window(self) -> dict[str, float]:
        """AU rate and gaps since the last call."""
        stamps, self.stamps = self.stamps, self.stamps[-1:]
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
        return {"au_rate_hz": round((len(stamps) - 1) / span, 2) if span > 0 else 0.0,
                "max_gap_ms": round(1000 * max(gaps), 1) if gaps else None,
                "gaps_over_100ms": sum(1 for g in gaps if g > 0.1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="duration (default %(default)s)")
    parser.add_argument("--sample-s", type=float, default=60.0, help="sampling period (default %(default)s s)")
    parser.add_argument("--gap", type=float, default=6.0, help="seconds between utterances (default %(default)s)")
    parser.add_argument("--processes", action="store_true", help="avatar-stack --processes (one per node)")
    parser.add_argument("--bag", type=Path, help="also record the session here and report bytes/s per topic")
    parser.add_argument("--camera", help="camera input of the stack (a video file; default off)")
    parser.add_argument("--audio", help="audio input of the stack (a WAV file; default off)")
    opts = parser.parse_args()
    if opts.minutes <= 0 or opts.sample_s <= 0 or opts.gap <= 0:
        parser.exit(2, "soak.py: error: --minutes, --sample-s and --gap must be > 0\n")

    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    cmd = [str(Path(sys.executable).parent / "avatar-stack"), "--without", "dashboard"]
    cmd += ["--processes"] if opts.processes else []
    cmd += ["--record", str(opts.bag)] if opts.bag else []
    cmd += ["--camera", opts.camera] if opts.camera else []
    cmd += ["--audio", opts.audio] if opts.audio else []
    stack = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    context = Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    watcher = Watcher(context)
    executor.add_node(watcher.node)
    samples: list[dict[str, Any]] = []
    try:
        up_by = time.monotonic() + 120
        while not watcher.stamps or watcher.pub.get_subscription_count() == 0:
            if time.monotonic() > up_by or stack.poll() is not None:
                raise RuntimeError(f"the stack did not come up: {stack.stderr.read()[-2000:] if stack.poll() else ''}")
            executor.spin_once(timeout_sec=0.05)
        start = time.monotonic()
        _, cpu0 = tree_usage(stack.pid)
        next_say, next_sample, last_cpu, last_t = start, start + opts.sample_s, cpu0, start
        watcher.window()
        while (now := time.monotonic()) < start + 60 * opts.minutes:
            if now >= next_say:
                watcher.say()
                next_say += opts.gap
            if now >= next_sample:
                rss, cpu = tree_usage(stack.pid)
                samples.append({"t_s": round(now - start, 1), "rss_mb": round(rss, 1),
                                "cpu_percent": round(100 * (cpu - last_cpu) / (now - last_t), 1),
                                **watcher.window(), "said": watcher.said, "analysed": watcher.analysed})
                last_cpu, last_t = cpu, now
                next_sample += opts.sample_s
            executor.spin_once(timeout_sec=0.01)
    finally:
        stack.send_signal(signal.SIGTERM)
        try:
            stack.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stack.kill()
        executor.remove_node(watcher.node)
        watcher.node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown(context=context)
    result: dict[str, Any] = {"minutes": opts.minutes, "processes": opts.processes, "gap_s": opts.gap,
                              "load_avg_1min": os.getloadavg()[0], "stack_exit": stack.returncode,
                              "bad_au_values": watcher.bad_values, "samples": samples}
    fit = samples[1:] if len(samples) > 2 else samples
    if len(fit) >= 2:
        from scipy.stats import linregress

        reg = linregress([s["t_s"] / 3600 for s in fit], [s["rss_mb"] for s in fit])
        result["rss_growth_mb_per_hour"] = round(float(reg.slope), 2)
        result["rss_fit_r"] = round(float(reg.rvalue), 3)
    result["max_gap_ms"] = max((s["max_gap_ms"] or 0.0) for s in samples) if samples else None
    result["gaps_over_100ms"] = sum(s["gaps_over_100ms"] for s in samples)
    if opts.bag:
        result["topics"] = topic_rates(opts.bag)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
