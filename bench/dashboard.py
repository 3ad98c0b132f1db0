#!/usr/bin/env python3
"""Dashboard benchmark (prints one JSON object): many pages on a 60 Hz stream, memory over time.

One process and one executor, like `avatar-stack`: the real dashboard node and a bench node that
publishes what the graph would (face/action_units + face/head_gaze at 60 Hz, affect/* at 2 Hz, a
640x480 camera at 15 Hz, an utterance every 5 s). Ten WebSocket clients connect from another process
(as browsers would, so their work does not share this process's interpreter): eight read everything,
one leaves halfway through, one never reads (a stalled tab: its unsent values are replaced, never
queued, and the heartbeat closes it after about 20 s). Reported:

- per reading client: AU updates per second received (the page's frame rate);
- the stalled client: what the server dropped for it instead of queueing;
- process RSS sampled every second: start (after a 10 % warm-up), end, max and the least-squares
  slope in MB per minute (0 = no growth);
- CPU: the whole process and the web server's thread, in percent of one core;
- the 60 Hz publishing timer's period error (p50/p99 ms): the web server must not delay the executor;
  `--no-dashboard` runs the same publisher alone for the baseline.

Usage: nice .venv/bin/python bench/dashboard.py [--seconds 300] [--clients 10] [--no-dashboard]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import statistics
import sys
import threading
import time
from typing import Any

os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

AU_NAMES = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU12R", "AU14L", "AU14R",
            "AU15", "AU16", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26", "AU38", "AU45"]
LABELS = ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt"]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return math.nan


def thread_cpu_s(tid: int) -> float:
    """User + system CPU seconds of one thread of this process (Linux /proc)."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))] if ordered else math.nan


class Reader(threading.Thread):
    """One page: reads every message and counts AU updates (or stops reading, or leaves at `leave_at`)."""

    def __init__(self, url: str, read: bool = True, leave_at: float | None = None) -> None:
        super().__init__(daemon=True)
        import websocket

        self.ws = websocket.create_connection(url, timeout=10)
        self.read, self.leave_at = read, leave_at
        self.au_updates = 0
        self.first = self.last = None
        self.stop = threading.Event()

    def run(self) -> None:
        import websocket

        self.ws.settimeout(0.5)
        while not self.stop.is_set():
            if self.leave_at is not None and time.monotonic() >= self.leave_at:
                self.ws.close()
                return
            if not self.read:
                time.sleep(0.1)
                continue
            try:
                message = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError):
                return
            if '"aus":' in message:
                now = time.monotonic()
                self.au_updates += 1
                self.first = self.first or now
                self.last = now

    def rate(self) -> float:
        if self.first is None or self.last is None or self.last <= self.first:
            return 0.0
        return (self.au_updates - 1) / (self.last - self.first)


def run_clients(url: str, clients: int, seconds: float, conn) -> None:
    """In a child process: `clients` pages for `seconds`; sends their figures back through `conn`."""
    start = time.monotonic()
    readers = [Reader(url) for _ in range(clients - 2)]
    leaving = Reader(url, leave_at=start + seconds / 2)
    stalled = Reader(url, read=False)
    for r in (*readers, leaving, stalled):
        r.start()
    time.sleep(max(0.0, start + seconds - time.monotonic()))
    for r in (*readers, leaving, stalled):
        r.stop.set()
    for r in (*readers, leaving, stalled):
        r.join(timeout=2)
    conn.send({"rates": [r.rate() for r in readers], "leaving": leaving.au_updates})
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="run length (default 300 = 5 minutes)")
    parser.add_argument("--clients", type=int, default=10, help="pages (>= 3: one leaves, one stalls)")
    parser.add_argument("--no-dashboard", action="store_true", help="baseline: the publisher alone, no pages")
    opts = parser.parse_args()
    if opts.seconds < 5 or opts.clients < 3:
        parser.error("--seconds must be >= 5 and --clients >= 3")

    import numpy as np
    import rclpy
    from avatar_bringup.dashboard_node import DashboardNode
    from avatar_msgs.msg import ActionUnits, EmotionState, HeadGaze, Utterance
    from emotion_perception.face.image_io import fill_msg
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    rclpy.init()
    executor = SingleThreadedExecutor()
    dashboard = None
    if not opts.no_dashboard:
        dashboard = DashboardNode(parameter_overrides=[Parameter("port", value=0)])
        dashboard.trigger_configure()
        dashboard.trigger_activate()
        executor.add_node(dashboard)
        if dashboard.server is None:
            print(f"bench/dashboard.py: error: {dashboard.server_error}", file=sys.stderr)
            return 1

    bench = Node("dashboard_bench")
    pubs = {"aus": bench.create_publisher(ActionUnits, "face/action_units", 10),
            "gaze": bench.create_publisher(HeadGaze, "face/head_gaze", 10),
            "image": bench.create_publisher(Image, "camera/image_raw", 2),
            "utterance": bench.create_publisher(Utterance, "speech/utterance", 10),
            **{s: bench.create_publisher(EmotionState, f"affect/{s}", 10) for s in ("text", "voice", "face", "fused")}}
    executor.add_node(bench)
    rng = np.random.default_rng(1)
    camera = fill_msg(Image(), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), "bgr8")
    ticks: list[float] = []
    count = {"n": 0}

    def frame() -> None:
        now = time.monotonic()
        ticks.append(now)
        k = count["n"] = count["n"] + 1
        values = [0.5 + 0.5 * math.sin(k / 60.0 + i) for i in range(len(AU_NAMES))]
        pubs["aus"].publish(ActionUnits(names=AU_NAMES, intensities=values))
        pubs["gaze"].publish(HeadGaze(head_yaw=0.2 * math.sin(k / 90.0), eye_yaw=0.2 * math.cos(k / 40.0)))
        if k % 4 == 0:
            camera.header.stamp = bench.get_clock().now().to_msg()
            pubs["image"].publish(camera)
        if k % 30 == 0:
            for source in ("text", "voice", "face", "fused"):
                weights = rng.dirichlet(np.ones(len(LABELS))).astype(float).tolist()
                pubs[source].publish(EmotionState(source=source, labels=LABELS, weights=weights, confidence=0.8))
        if k % 300 == 0:
            pubs["utterance"].publish(Utterance(id=f"bench-{k}", text=f"utterance number {k // 300}", final=True))

    bench.create_timer(1.0 / 60.0, frame)
    start = time.monotonic()
    end = start + opts.seconds
    cpu_start = time.process_time()
    server_tid = dashboard.server._thread.native_id if dashboard is not None else None
    server_cpu_start = thread_cpu_s(server_tid) if server_tid else 0.0
    pages = None
    if dashboard is not None:
        spawn = multiprocessing.get_context("spawn")
        receiver, sender = spawn.Pipe(duplex=False)
        pages = spawn.Process(target=run_clients, daemon=True,
                              args=(dashboard.url.replace("http://", "ws://") + "ws", opts.clients, opts.seconds,
                                    sender))
        pages.start()

    samples: list[tuple[float, float]] = []
    next_sample = start
    stats_mid: dict[str, Any] = {}
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.005)
        now = time.monotonic()
        if now >= next_sample:
            samples.append((now - start, rss_mb()))
            next_sample += 1.0
        if dashboard is not None and not stats_mid and now >= start + opts.seconds * 0.75:
            stats_mid = dashboard.server.stats()
    final_stats = dashboard.server.stats() if dashboard is not None else {}
    cpu = {"process_percent": round(100.0 * (time.process_time() - cpu_start) / opts.seconds, 1),
           "web_thread_percent": round(100.0 * (thread_cpu_s(server_tid) - server_cpu_start) / opts.seconds, 1)
           if server_tid else None}
    clients = {"rates": [0.0], "leaving": 0}
    if pages is not None:
        while not receiver.poll(0.05):  # keep serving while the pages finish
            executor.spin_once(timeout_sec=0.005)
        clients = receiver.recv()
        pages.join(timeout=5)

    warm = [s for s in samples if s[0] >= 0.1 * opts.seconds]
    t, mb = np.array([s[0] for s in warm]), np.array([s[1] for s in warm])
    slope = float(np.polyfit(t / 60.0, mb, 1)[0]) if len(warm) > 2 else math.nan
    periods = [1000.0 * (b - a) for a, b in itertools.pairwise(ticks)]
    errors = [abs(p - 1000.0 / 60.0) for p in periods]
    rates = clients["rates"]
    result = {
        "seconds": opts.seconds,
        "dashboard": dashboard is not None,
        "clients": opts.clients if dashboard is not None else 0,
        "au_frames_published": count["n"],
        "reader_au_updates_hz": {"min": round(min(rates), 1), "p50": round(statistics.median(rates), 1)},
        "leaving_client_au_updates": clients["leaving"],
        "disconnects_at_75pct": stats_mid.get("disconnects"),  # the leaving and the stalled client
        "server": final_stats,
        "rss_mb": {"start": round(float(mb[0]), 1), "end": round(float(mb[-1]), 1), "max": round(float(mb.max()), 1),
                   "slope_mb_per_min": round(slope, 3)},
        "cpu": cpu,
        "load_average_1min": round(os.getloadavg()[0], 1),
        "timer_period_error_ms": {"p50": round(pct(errors, 50), 2), "p99": round(pct(errors, 99), 2)},
    }
    print(json.dumps(result))
    if dashboard is not None:
        dashboard.destroy_node()
    bench.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
