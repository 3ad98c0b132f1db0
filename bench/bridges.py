"""Per-frame cost of the face bridge: retarget + encode + send, per target and all together.

Receivers are loopback UDP sockets (not read: the kernel drops what overflows, the sender never
blocks) and a pty drained by a thread for the Maestro. Prints one JSON object; times in ms.

    nice python bench/bridges.py [--frames 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import threading
import time

import numpy as np
from au_animation.bridges.frames import split
from au_animation.bridges.pipeline import BridgeConfig, BridgeSet

TARGET_MS = 0.5
AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU12R", "AU14", "AU15",
       "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]


def frames(n: int) -> list:
    rng = np.random.default_rng(0)
    phase = rng.uniform(0, 2 * np.pi, len(AUS))
    out = []
    for i in range(n):
        values = 0.5 + 0.5 * np.sin(phase + i / 20.0)
        out.append(split(dict(zip(AUS, values.tolist(), strict=True)), t=i / 60.0))
    return out


def udp_receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def drain(fd: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def _stats(times: np.ndarray, prefix: str) -> dict:
    return {f"{prefix}mean_ms": round(float(times.mean()), 4),
            f"{prefix}p50_ms": round(float(np.percentile(times, 50)), 4),
            f"{prefix}p99_ms": round(float(np.percentile(times, 99)), 4)}


def measure(config: BridgeConfig, data: list, servo: bool) -> dict:
    """Wall time and this thread's CPU time per frame (CPU time leaves out preemption by other
    processes on a loaded machine; syscalls of the sends are included in both)."""
    fake = [time.monotonic()]  # stream clock: 60 Hz frames, so rate limiters let every frame through
    bridges = BridgeSet(config, clock=lambda: fake[0])
    bridges.start()
    wall = np.empty(len(data))
    cpu = np.empty(len(data))
    for i, frame in enumerate(data):
        fake[0] += 1 / 60.0
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        bridges.push(frame)
        if servo:
            bridges.tick()
        cpu[i] = (time.thread_time_ns() - start_cpu) / 1e6
        wall[i] = (time.perf_counter_ns() - start) / 1e6
    errors = sum(h.errors for h in bridges.healths())
    sent = {h.name: h.sent for h in bridges.healths()}
    bridges.close(sleep=lambda s: fake.__setitem__(0, fake[0] + s))
    return {**_stats(wall, "wall_"), **_stats(cpu, "cpu_"), "max_wall_ms": round(float(wall.max()), 4),
            "sent": sent, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3000)
    args = parser.parse_args()
    data = frames(args.frames)
    osc_rx, ll_rx = udp_receiver(), udp_receiver()
    osc_ep = f"127.0.0.1:{osc_rx.getsockname()[1]}"
    ll_ep = f"127.0.0.1:{ll_rx.getsockname()[1]}"
    master, slave = os.openpty()
    stop = threading.Event()
    threading.Thread(target=drain, args=(master, stop), daemon=True).start()
    tty = os.ttyname(slave)
    cases = {
        "osc_bundle_metahuman": (BridgeConfig(osc=osc_ep), False),
        "osc_message_metahuman": (BridgeConfig(osc=osc_ep, osc_mode="message"), False),
        "osc_bundle_arkit": (BridgeConfig(osc=osc_ep, curves="arkit"), False),
        "livelink": (BridgeConfig(livelink=ll_ep), False),
        "maestro": (BridgeConfig(maestro=tty), True),
        "all_three": (BridgeConfig(osc=osc_ep, livelink=ll_ep, maestro=tty), True),
    }
    results = {}
    for name, (config, servo) in cases.items():
        measure(config, data[:200], servo)  # warm-up (imports, caches)
        results[name] = measure(config, data, servo)
    stop.set()
    os.close(slave)
    os.close(master)
    all_three = results["all_three"]
    print(json.dumps({
        "benchmark": "bridges", "frames": args.frames, "cpu_count": os.cpu_count(),
        "per_frame": results, "target_ms": TARGET_MS,
        "all_three_cpu_mean_under_target": all_three["cpu_mean_ms"] < TARGET_MS,
        "all_three_wall_p50_under_target": all_three["wall_p50_ms"] < TARGET_MS,
        "all_three_wall_mean_under_target": all_three["wall_mean_ms"] < TARGET_MS,
    }, indent=1))


if __name__ == "__main__":
    main()
