"""avatar-bag: record, play, inspect, repair and re-synthesise sessions as rosbag2 (MCAP) bags.

    avatar-bag record /avatar/face/action_units /avatar/affect/fused -o session1
    avatar-bag record --all -o session2 --split-duration 600
    avatar-bag play session1 --rate 2 --remap /avatar/face/action_units:=/test/au
    avatar-bag info session1
    avatar-bag reindex session1          # after a crash: rebuild metadata.yaml, recover the files
    avatar-bag resynth session1 -o session1_static --params static.yaml

Bags are rosbag2 folders (metadata.yaml + MCAP files) that `ros2 bag info/play`, Foxglove and the
rosbags / mcap libraries read. Needs only rclpy (no rosbag2 install).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from avatar_common.stamps import to_ns

from avatar_bringup.bag import reader as bag_reader
from avatar_bringup.bag.errors import BagError
from avatar_bringup.bag.playback import PlaybackClock, absolute, check_rate, parse_remaps
from avatar_bringup.bag.reindex import reindex
from avatar_bringup.bag.writer import BagWriter, SplitPolicy

PROG = "avatar-bag"
STATUS_PERIOD_S = 1.0
# --clock-topics-all: /clock with a message's time goes out this long before the message, and the
# next /clock change no sooner than this after it, so that subscribers in other processes see the
# message at its own time (/clock is best effort: no acknowledgement to wait for).
CLOCK_LEAD_S = 0.002


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[1:9]))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rec = sub.add_parser("record", help="record topics into a new bag (Ctrl-C or SIGTERM stops cleanly)")
    rec.add_argument("topics", nargs="*", metavar="TOPIC", help="topics to record (absolute or /-less)")
    rec.add_argument("--all", action="store_true", help="record every topic, including ones that appear later")
    rec.add_argument("--regex", default="", help="also record topics matching this regular expression")
    rec.add_argument("-o", "--output", required=True, type=Path, help="bag folder to create")
    rec.add_argument("--split-size", type=float, default=0.0, metavar="MB", help="start a new file after MB")
    rec.add_argument("--split-duration", type=float, default=0.0, metavar="S", help="start a new file after S s")
    rec.add_argument("--chunk-seconds", type=float, default=1.0, metavar="S",
                     help="flush a chunk at least every S s: what a crash can lose (default %(default)s)")
    rec.add_argument("--duration", type=float, default=0.0, metavar="S", help="stop after S seconds (0 = never)")
    rec.add_argument("--use-sim-time", action="store_true", help="log times from /clock")
    rec.add_argument("--quiet", action="store_true", help="no live counts")

    play = sub.add_parser("play", help="publish a bag with its timing and QoS, and /clock")
    play.add_argument("bag", type=Path)
    play.add_argument("--topics", nargs="+", default=None, metavar="TOPIC", help="only these topics")
    play.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default %(default)s)")
    play.add_argument("--start-offset", type=float, default=0.0, metavar="S", help="skip the first S seconds")
    play.add_argument("--loop", action="store_true", help="play again from the start until stopped")
    play.add_argument("--remap", action="append", default=[], metavar="FROM:=TO", help="rename a topic")
    play.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    play.add_argument("--clock-hz", type=float, default=100.0, help="/clock rate (default %(default)s)")
    play.add_argument("--clock-topics-all", action="store_true",
                      help="also publish /clock with each message's time 2 ms before it (as rosbag2's option): "
                      "nodes under sim time then see each message at its recorded time")
    play.add_argument("--delay", type=float, default=0.0, metavar="S", help="wait S s before playing")
    play.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="S",
                      help="wait up to S s until every topic (and /clock) has --subscribers subscribers")
    play.add_argument("--subscribers", type=int, default=1, metavar="N",
                      help="subscribers per topic to wait for (default %(default)s), e.g. 2: a node and a recorder")

    info = sub.add_parser("info", help="topics, types, counts, duration and size of a bag")
    info.add_argument("bag", type=Path)
    info.add_argument("--json", action="store_true", help="print JSON")

    rei = sub.add_parser("reindex", help="rebuild metadata.yaml and recover files of a crashed recording")
    rei.add_argument("bag", type=Path)

    res = sub.add_parser("resynth", help="replay affect/fused and the speaking flags through the expression "
                         "synthesizer under sim time with other parameters; write the new face into a bag",
                         description="Exact: re-synthesising a resynth output with its recorded plan and "
                         "parameters reproduces its face/action_units frame for frame (docs/sessions.md).")
    res.add_argument("bag", type=Path)
    res.add_argument("-o", "--output", required=True, type=Path, help="bag folder to create")
    res.add_argument("--params", type=Path, help="ROS 2 parameter file for expression_synthesizer")
    res.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="one synthesizer parameter, e.g. mode=static or profile=posed (repeatable)")
    res.add_argument("--namespace", default=None, help="namespace of the session's topics (default: detected)")
    res.add_argument("--linger", type=float, default=2.0, metavar="S",
                     help="seconds synthesised after the last input of a new plan (default %(default)s)")
    res.add_argument("--schedule", choices=["grid", "recorded"], default=None,
                     help="grid: frames at a fixed rate, inputs moved onto it; recorded: a sim-time session's "
                     "own frame stamps and input times (default: the bag's recorded plan, else grid)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    opts = parser.parse_args(argv)
    try:
        return COMMANDS[opts.command](opts)
    except BagError as exc:
        parser.exit(2, f"{PROG}: error: {exc}\n")
    return 0


# -- info / reindex -----------------------------------------------------------------------------------
def cmd_info(opts: argparse.Namespace) -> int:
    import json

    summary = bag_reader.info(opts.bag)
    print(json.dumps(summary.to_dict(), indent=2) if opts.json else summary.text())
    return 0


def cmd_reindex(opts: argparse.Namespace) -> int:
    results = reindex(opts.bag, progress=lambda line: print(line, file=sys.stderr))
    recovered = sum(r.rewritten for r in results)
    print(f"{opts.bag}: metadata.yaml written, {len(results)} file(s), {recovered} recovered, "
          f"{sum(r.messages for r in results)} messages")
    return 0


# -- ROS commands ---------------------------------------------------------------------------------------
class _Stop:
    """SIGINT/SIGTERM set a flag; the loops finish their work and close the bag."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signal = signum

    def restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def _ros(body: Callable[[Any, _Stop], int]) -> int:
    """Run `body(context, stop)` in an own rclpy context with our own signal handling."""
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    stop = _Stop()
    try:
        return body(context, stop)
    finally:
        stop.restore()
        rclpy.try_shutdown(context=context)


def cmd_record(opts: argparse.Namespace) -> int:
    if not (opts.topics or opts.all or opts.regex):
        raise BagError("nothing to record: give topics, --all or --regex")
    if min(opts.split_size, opts.split_duration, opts.duration) < 0 or not opts.chunk_seconds > 0:
        raise BagError("--split-size, --split-duration and --duration must be >= 0, --chunk-seconds > 0")
    writer = BagWriter(opts.output, SplitPolicy(int(opts.split_size * 1e6), opts.split_duration), opts.chunk_seconds)

    def body(context: Any, stop: _Stop) -> int:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter

        from avatar_bringup.bag_nodes import BagRecorder

        include = ".*" if opts.all else opts.regex
        executor = SingleThreadedExecutor(context=context)
        recorder = None
        try:
            recorder = BagRecorder(writer, [absolute(t) for t in opts.topics], include, context=context,
                                   parameter_overrides=[Parameter("use_sim_time", value=opts.use_sim_time)])
            executor.add_node(recorder)
            started = time.monotonic()
            status = Status(writer, recorder, quiet=opts.quiet)
            while stop.signal is None and not (opts.duration and time.monotonic() - started >= opts.duration):
                executor.spin_once(timeout_sec=0.05)
                status.maybe_print()
            status.done()
        finally:
            if recorder is not None:
                executor.remove_node(recorder)
                recorder.destroy_node()
            executor.shutdown(timeout_sec=1.0)
            writer.close()
        return 0

    return _ros(body)


class Status:
    """Live counts of a recording on stderr (one rewritten line on a terminal), and a final summary."""

    def __init__(self, writer: BagWriter, recorder: Any, quiet: bool = False) -> None:
        self.writer, self.recorder = writer, recorder
        self.live = not quiet and sys.stderr.isatty()
        self.started = time.monotonic()
        self._next = self.started + STATUS_PERIOD_S

    def line(self) -> str:
        return (f"{self.writer.path}: {len(self.recorder.recording)} topics, {self.writer.message_count} messages, "
                f"{self.writer.bytes_written / 1e6:.1f} MB, {time.monotonic() - self.started:.0f} s")

    def maybe_print(self) -> None:
        if self.live and time.monotonic() >= self._next:
            self._next += STATUS_PERIOD_S
            print("\r" + self.line(), end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        print(("\r" if self.live else "") + self.line(), file=sys.stderr)


def cmd_play(opts: argparse.Namespace) -> int:
    check_rate(opts.rate)
    if opts.start_offset < 0 or opts.delay < 0 or not opts.clock_hz > 0:
        raise BagError("--start-offset and --delay must be >= 0, --clock-hz > 0")
    remaps = parse_remaps(opts.remap)
    topics = [absolute(t) for t in opts.topics] if opts.topics else None
    with bag_reader.open_bag(opts.bag) as reader:
        connections = bag_reader.select(reader, topics)
        if not reader.message_count:
            raise BagError(f"{opts.bag}: the bag holds no messages")

        def body(context: Any, stop: _Stop) -> int:
            from avatar_bringup.bag_nodes import BagPlayer

            played = [(remaps.get(c.topic, c.topic), c.msgtype, list(c.ext.offered_qos_profiles))
                      for c in connections]
            player = BagPlayer(played, clock=not opts.no_clock, context=context)
            try:
                if opts.wait_for_subscribers and not player.wait_for_subscribers(opts.wait_for_subscribers,
                                                                                 opts.subscribers):
                    print(f"{PROG}: warning: not every topic has a subscriber; playing anyway", file=sys.stderr)
                time.sleep(opts.delay)
                count = _play(reader, connections, player, remaps, opts, stop)
                player.wait_for_acks(2.0)
            finally:
                player.destroy_node()
            print(f"{PROG}: played {count} messages", file=sys.stderr)
            return 0

        return _ros(body)


def _play(reader: Any, connections: list, player: Any, remaps: dict[str, str], opts: argparse.Namespace,
          stop: _Stop) -> int:
    """Publish the messages at their recorded pace (and /clock every 1/clock_hz s); the count published."""
    start = reader.start_time + int(opts.start_offset * 1e9)
    clock_period_ns = int(1e9 / opts.clock_hz)
    count = 0
    while stop.signal is None:
        clock = PlaybackClock(start, time.monotonic_ns(), opts.rate)
        next_clock = time.monotonic_ns()
        for conn, stamp, data in reader.messages(connections=connections, start=start):
            due = clock.wall_ns(stamp)
            while stop.signal is None:
                now = time.monotonic_ns()
                if now >= next_clock:
                    player.publish_clock(min(clock.bag_ns(now), stamp))
                    next_clock += clock_period_ns
                if now >= due:
                    break
                time.sleep(max(0.0, (min(due, next_clock) - now) * 1e-9))
            if stop.signal is not None:
                break
            if opts.clock_topics_all:
                player.publish_clock(stamp)
                time.sleep(CLOCK_LEAD_S)
            player.publish(remaps.get(conn.topic, conn.topic), data)
            if opts.clock_topics_all:  # nor a /clock change right after it
                next_clock = max(next_clock, time.monotonic_ns() + int(CLOCK_LEAD_S * 1e9))
            count += 1
        if not opts.loop:
            break
    return count


def cmd_resynth(opts: argparse.Namespace) -> int:
    from avatar_bringup.bag import resynth

    if opts.linger < 0:
        raise BagError("--linger must be >= 0")
    overrides = {**(resynth.load_parameters(opts.params) if opts.params else {}), **resynth.parse_set(opts.set)}
    with bag_reader.open_bag(opts.bag) as reader:
        ns = opts.namespace.rstrip("/") if opts.namespace is not None else resynth.namespace_of(
            [c.topic for c in reader.connections])
        wanted = {f"{ns}/{t}": t for t in resynth.INPUT_TOPICS}
        connections = [c for c in reader.connections if c.topic in wanted]
        inputs = [(stamp, c.topic, bytes(data)) for c, stamp, data in reader.messages(connections=connections)]
        recorded = resynth.Plan.from_custom_data(bag_reader.custom_data(opts.bag))
        stamps = []
        if (opts.schedule or (recorded.schedule if recorded else "grid")) == "recorded":
            faces = [c for c in reader.connections if c.topic == f"{ns}/{resynth.OUTPUT_TOPIC}"]
            stamps = [to_ns(m.header.stamp.sec, m.header.stamp.nanosec) for m in
                      (reader.deserialize(d, c.msgtype) for c, _, d in reader.messages(connections=faces))]
        plan = resynth.make_plan(recorded, [stamp for stamp, _, _ in inputs], overrides, opts.linger,
                                 opts.schedule, stamps)
    steps = resynth.steps(plan, inputs, stamps)
    writer = BagWriter(opts.output, custom_data=plan.to_custom_data())

    def body(context: Any, _stop: _Stop) -> int:
        from tqdm import tqdm

        from avatar_bringup.bag_nodes import Resynthesizer

        types_by_topic = {c.topic: c for c in connections}
        driver = Resynthesizer(context, ns, plan.parameters,
                               {wanted[t]: c.msgtype for t, c in types_by_topic.items()})
        try:
            for topic, conn in types_by_topic.items():
                writer.add_topic(topic, conn.msgtype, list(conn.ext.offered_qos_profiles), conn.msgdef.data,
                                 conn.digest or None)
            out_topic = f"{ns}/{resynth.OUTPUT_TOPIC}"
            writer.add_topic(out_topic, "avatar_msgs/msg/ActionUnits", driver.output_qos())
            started = time.monotonic()
            for step in tqdm(steps, desc=f"{PROG} resynth", unit="step", disable=None, file=sys.stderr):
                if step.topic is None:
                    writer.write(out_topic, step.log_ns, driver.tick(step.clock_ns))
                else:
                    driver.deliver(wanted[step.topic], step.data, step.clock_ns)
                    writer.write(step.topic, step.log_ns, step.data)
        finally:
            driver.close()
            writer.close()
        took = time.monotonic() - started
        session_s = (steps[-1].log_ns - steps[0].log_ns) * 1e-9 if steps else 0.0
        print(f"{opts.output}: {plan.frames} frames from {len(inputs)} inputs in {took:.2f} s "
              f"({session_s / max(took, 1e-9):.0f}x real time), {plan.schedule} schedule, "
              f"parameters {plan.parameters}", file=sys.stderr)
        return 0

    return _ros(body)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "record": cmd_record, "play": cmd_play, "info": cmd_info, "reindex": cmd_reindex, "resynth": cmd_resynth,
}


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
