"""face-bridge: AU frames (JSONL on stdin or a file) -> OSC / Live Link Face / Maestro, without ROS.

    au-synth ... | face-bridge --input - --osc 127.0.0.1:8000 --livelink 127.0.0.1:11111
    face-bridge --input clip.jsonl --maestro /dev/ttyACM0 --servo-map my_head.yaml

Rows are {"t": seconds, "curves": {name: value}} (au-synth's output); frames are played in real
time by their "t" (use --no-pace to send as fast as they arrive). Options mirror the face_bridge
node's parameters (`--osc-rate-hz` = `osc_rate_hz`). At the end a JSON summary (counters per
target) is printed on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, Any

from au_animation.bridges.frames import Frame, parse_jsonl_row
from au_animation.bridges.pipeline import BridgeConfig, BridgeSet
from avatar_common import config

LOG = logging.getLogger("face-bridge")
CLI_FIELDS = [f for f in config.specs(BridgeConfig) if not f.startswith("joint_trajectory")]  # those need ROS
_EOF = object()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="face-bridge", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--input", default="-", help="JSONL file of frames, '-' = stdin")
    config.add_arguments(parser, BridgeConfig, only=CLI_FIELDS)
    parser.add_argument("--no-pace", action="store_true", help="send frames as they arrive, ignore 't'")
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed factor when pacing")
    parser.add_argument("--servo-log", default="",
                        help="write every safe servo command as JSONL {t, channels, us} to FILE ('-' = stdout)")
    parser.add_argument("--status-interval", type=float, default=0.0,
                        help="print a status line on stderr every N seconds (0 = only at the end)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _reader(lines: Iterable[str], out: queue.Queue, counters: dict[str, int]) -> None:
    for number, line in enumerate(lines, 1):
        try:
            frame = parse_jsonl_row(line)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            counters["bad"] += 1
            if counters["bad"] <= 5:
                LOG.warning("line %d skipped: %s", number, exc)
            continue
        if frame is not None:
            out.put(frame)
    out.put(_EOF)


def run(args: argparse.Namespace, stream: IO[str]) -> dict[str, Any]:
    bridge_config = config.from_namespace(BridgeConfig, args)
    log_file = None
    servo_sink = None
    if args.servo_log:
        log_file = sys.stdout if args.servo_log == "-" else open(args.servo_log, "w")  # noqa: SIM115

        def servo_sink(now: float, pose: Any) -> None:
            log_file.write(json.dumps({"t": round(now, 4), "channels": bridges._channels,
                                       "us": [round(float(v), 2) for v in pose]}) + "\n")

    bridges = BridgeSet(bridge_config, servo_sink=servo_sink)
    frames: queue.Queue = queue.Queue(maxsize=1024)
    counters = {"bad": 0}
    threading.Thread(target=_reader, args=(stream, frames, counters), daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    servo_period = 1.0 / bridge_config.servo_rate_hz if bridges.servo is not None else None
    next_tick = time.monotonic()
    next_status = time.monotonic() + args.status_interval if args.status_interval > 0 else float("inf")
    pending: Frame | None = None
    origin: tuple[float, float] | None = None  # (stream t, wall time) of the first frame
    bridges.start()
    try:
        while not stop.is_set():
            now = time.monotonic()
            if servo_period is not None and now >= next_tick:
                bridges.tick(now)
                next_tick = max(next_tick + servo_period, now)
            if now >= next_status:
                print(json.dumps(bridges.status()[2]), file=sys.stderr, flush=True)
                next_status = now + args.status_interval
            bridges.flush(now)
            if pending is None:
                wait = 0.1 if servo_period is None else max(0.0, next_tick - time.monotonic())
                wait = min(wait, 0.005) if bridges.holding else wait
                try:
                    item = frames.get(timeout=wait)
                except queue.Empty:
                    continue
                if item is _EOF:
                    break
                pending = item
            due = now
            if not args.no_pace:
                if origin is None or pending.t < origin[0]:
                    origin = (pending.t, now)  # first frame, or the stream restarted its clock
                due = origin[1] + (pending.t - origin[0]) / max(args.speed, 1e-6)
            if due > now:
                limit = next_tick if servo_period is not None else due
                time.sleep(max(0.0, min(due, limit) - now))
                continue
            bridges.push(pending, time.monotonic())
            pending = None
    except KeyboardInterrupt:
        pass
    finally:
        bridges.frames_bad = counters["bad"]
        bridges.close()
        if log_file is not None and log_file is not sys.stdout:
            log_file.close()
    level, message, values = bridges.status()
    return {"level": level, "message": message, **values}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="face-bridge: %(levelname)s %(message)s", stream=sys.stderr)
    try:
        stream = sys.stdin if args.input == "-" else open(args.input)  # noqa: SIM115
    except OSError as exc:
        print(f"face-bridge: cannot read {args.input}: {exc}", file=sys.stderr)
        return 2
    try:
        summary = run(args, stream)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"face-bridge: {exc}", file=sys.stderr)
        return 2
    out = sys.stderr if args.servo_log == "-" else sys.stdout
    print(json.dumps(summary), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
