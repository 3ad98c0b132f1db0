#!/usr/bin/env python3
"""Sessions benchmark (prints one JSON object).

1. record: `avatar-bag record` (the real command, its own process) records at once what a full
   session publishes: 16 kHz mono audio in 20 ms chunks (50 Hz), 30 fps 640x480 rgb8 images
   (27.6 MB/s) and 60 Hz ActionUnits, from a publisher process, for --seconds. Reported per topic:
   published, recorded, dropped; and the recorder's CPU time per second of session.
2. resynth: `avatar-bag resynth` of a --resynth-seconds session (a fused estimate every 1.5 s and
   speaking flags) through the real expression synthesizer under sim time; speed = session seconds
   / wall seconds, start-up (process, rclpy, node) included. Target: 50x real time.

Usage: nice .venv/bin/python bench/sessions.py [--seconds 10] [--resynth-seconds 120]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

BIN = Path(sys.executable).parent
NS = "/bench"
STREAMS = {  # topic -> (rate Hz, kind)
    f"{NS}/audio/chunks": (50.0, "audio"),
    f"{NS}/camera/image_raw": (30.0, "image"),
    f"{NS}/face/action_units": (60.0, "au"),
}

PUBLISHER = r"""
import sys, time, rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from avatar_msgs.msg import ActionUnits, AudioChunk
from sensor_msgs.msg import Image
seconds, topics = float(sys.argv[1]), sys.argv[2:]
rclpy.init()
node = Node("bench_publisher")
audio = AudioChunk(sample_rate=16000, channels=1, encoding="S16LE", data=bytes(640))
image = Image(height=480, width=640, encoding="rgb8", step=640 * 3, data=bytes(640 * 480 * 3))
au = ActionUnits(names=[f"AU{i:02d}" for i in range(1, 23)], intensities=[0.1] * 22)
kinds = {"audio": (AudioChunk, audio), "image": (Image, image), "au": (ActionUnits, au)}
specs = [(t, float(r), k) for t, r, k in (a.split("|") for a in topics)]
pubs = {t: node.create_publisher(kinds[k][0], t, QoSProfile(depth=100)) for t, _, k in specs}
end = time.monotonic() + 20
while time.monotonic() < end and not all(p.get_subscription_count() for p in pubs.values()):
    time.sleep(0.05)
start = time.monotonic()
due = {t: start for t, _, _ in specs}
sent = {t: 0 for t, _, _ in specs}
while True:
    now = time.monotonic()
    if now - start >= seconds:
        break
    for t, rate, kind in specs:
        if now >= due[t]:
            pubs[t].publish(kinds[kind][1])
            sent[t] += 1
            due[t] += 1.0 / rate
    time.sleep(max(0.0, min(due.values()) - time.monotonic()))
for p in pubs.values():
    p.wait_for_all_acked(rclpy.duration.Duration(seconds=5))
print(" ".join(f"{t}={n}" for t, n in sent.items()), flush=True)
"""


def bench_record(seconds: float, folder: Path) -> dict:
    bag = folder / "record"
    recorder = subprocess.Popen([str(BIN / "avatar-bag"), "record", *STREAMS, "-o", str(bag), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    specs = [f"{t}|{rate}|{kind}" for t, (rate, kind) in STREAMS.items()]
    pub = subprocess.run([sys.executable, "-c", PUBLISHER, str(seconds), *specs], capture_output=True, text=True,
                         timeout=seconds + 60)
    if pub.returncode != 0:
        raise SystemExit(pub.stderr)
    time.sleep(0.5)
    recorder.send_signal(signal.SIGINT)
    recorder.wait(timeout=30)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    sent = dict(item.split("=") for item in pub.stdout.split())
    from avatar_bringup.bag.reader import info

    summary = info(bag)
    counts = {t.topic: t.count for t in summary.topics}
    topics = {t: {"published": int(sent[t]), "recorded": counts.get(t, 0), "dropped": int(sent[t]) - counts.get(t, 0)}
              for t in STREAMS}
    return {"seconds": seconds, "topics": topics, "dropped_total": sum(v["dropped"] for v in topics.values()),
            "bag_mb": round(summary.size_bytes / 1e6, 1), "mb_per_s": round(summary.size_bytes / 1e6 / seconds, 1),
            "publisher_and_recorder_cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}


def bench_resynth(seconds: float, folder: Path) -> dict:
    import numpy as np
    from avatar_bringup.bag import types
    from avatar_bringup.bag.writer import BagWriter

    store = types.typestore()
    types.ensure("avatar_msgs/msg/EmotionState")
    emotion = store.types["avatar_msgs/msg/EmotionState"]
    header, stamp = store.types["std_msgs/msg/Header"], store.types["builtin_interfaces/msg/Time"]
    source = folder / "session"
    writer = BagWriter(source)
    writer.add_topic(f"{NS}/affect/fused", "avatar_msgs/msg/EmotionState")
    labels = ["happiness", "sadness", "surprise", "anger", "fear", "disgust", "neutral"]
    base = 1_800_000_000 * 10**9
    for i in range(int(seconds / 1.5)):
        t = base + int(i * 1.5e9) + 7_000_000
        msg = emotion(header=header(stamp=stamp(sec=t // 10**9, nanosec=t % 10**9), frame_id=""), source="fused",
                      labels=[labels[i % len(labels)]], weights=np.array([0.7], dtype=np.float32), valence=0.0,
                      arousal=0.0, confidence=1.0, utterance_id="", micro_expression="", micro_intensity=0.0)
        writer.write(f"{NS}/affect/fused", t, store.serialize_cdr(msg, "avatar_msgs/msg/EmotionState"))
    writer.close()
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "avatar-bag"), "resynth", str(source), "-o", str(folder / "out"),
                           "--linger", "0"], capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    session_s = (int(seconds / 1.5) - 1) * 1.5
    loop = re.search(r"in ([0-9.]+) s \(", proc.stderr)
    loop_s = float(loop[1]) if loop else float("nan")
    return {"session_s": session_s, "wall_s": round(wall, 2), "x_real_time": round(session_s / wall, 1),
            "frame_loop_s": loop_s, "x_real_time_frame_loop": round(session_s / loop_s, 1), "target_x": 50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--resynth-seconds", type=float, default=120.0)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {"record": bench_record(opts.seconds, Path(tmp)),
                  "resynth": bench_resynth(opts.resynth_seconds, Path(tmp)),
                  "load_avg_1min": round(os.getloadavg()[0], 2)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
