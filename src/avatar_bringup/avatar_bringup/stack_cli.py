"""avatar-stack: run the whole graph in one process, optionally driven by a scripted conversation.

    avatar-stack                                # desktop profile, until Ctrl-C
    avatar-stack --list --profile unreal        # print the graph it would run
    avatar-stack --say "I got the job!" --say "But I'll miss my friends." --gap 4
    avatar-stack --processes --only text_affect  # one process per node, this host's part of the graph

The nodes, parameters and remappings come from avatar_bringup/config/graph.yaml, the same
definition `ros2 launch avatar_bringup avatar.launch.py` reads.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from avatar_bringup.graph import (
    DEFAULT_NAMESPACE,
    DEFAULT_PROFILE,
    GraphError,
    describe,
    load_definition,
    resolve,
    split_names,
)

SHUTDOWN_BUDGET_S = 2.0


def build_parser(arguments: dict[str, tuple[str, str]], profiles: dict[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avatar-stack", description=__doc__.split("\n")[0],
        epilog="profiles: " + "; ".join(f"{k}: {v}" for k, v in profiles.items()))
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"graph profile (default {DEFAULT_PROFILE})")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="namespace of all nodes (default %(default)s)")
    parser.add_argument("--params-file", help="ROS 2 parameter YAML applied on top of the profile")
    parser.add_argument("--use-sim-time", action="store_true", help="all nodes follow /clock")
    parser.add_argument("--list", action="store_true", help="print the graph and exit")
    parser.add_argument("--say", action="append", default=[], metavar="TEXT",
                        help="an utterance of a scripted conversation (repeatable)")
    parser.add_argument("--gap", type=float, default=4.0, help="seconds between utterances (default %(default)s)")
    parser.add_argument("--linger", type=float, default=0.0,
                        help="seconds to keep running after the script played out and the face settled")
    parser.add_argument("--strict", action="store_true",
                        help="exit (status 2) when a node fails to come up, instead of running without it")
    parser.add_argument("--record", metavar="DIR", default=None,
                        help="record every topic of the namespace into a new rosbag2 (MCAP) bag DIR")
    parser.add_argument("--only", action="append", default=[], metavar="NODE[,NODE]",
                        help="run only these nodes of the profile (e.g. one host's part of the graph)")
    parser.add_argument("--without", action="append", default=[], metavar="NODE[,NODE]",
                        help="run the profile without these nodes")
    parser.add_argument("--processes", action="store_true",
                        help="one process per node; a node that dies is restarted with back-off")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    group = parser.add_argument_group("inputs and outputs (graph arguments)")
    for name, (default, description) in arguments.items():
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"arg_{name}", default=None, metavar=name.upper(),
                           help=f"{description} (default {default!r})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        definition = load_definition()
    except GraphError as exc:
        print(f"avatar-stack: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser({k: (a.default, a.description) for k, a in definition.arguments.items()},
                          {k: p.description for k, p in definition.profiles.items()})
    opts = parser.parse_args(argv)
    logging.basicConfig(level=opts.log_level.upper(), format="[%(levelname)s] [%(name)s]: %(message)s")
    overrides = {k[4:]: v for k, v in vars(opts).items() if k.startswith("arg_") and v is not None}
    try:
        graph = resolve(opts.profile, overrides, opts.params_file, opts.namespace, opts.use_sim_time, definition,
                        only=split_names(opts.only), without=split_names(opts.without))
    except GraphError as exc:
        parser.exit(2, f"avatar-stack: error: {exc}\n")
    if opts.list:
        print(describe(graph))
        return 0
    if opts.gap <= 0 or opts.linger < 0:
        parser.exit(2, "avatar-stack: error: --gap must be > 0 and --linger >= 0\n")
    writer = None
    if opts.record:
        from avatar_bringup.bag import BagError
        from avatar_bringup.bag.writer import BagWriter

        try:
            writer = BagWriter(opts.record)
        except BagError as exc:
            parser.exit(2, f"avatar-stack: error: --record: {exc}\n")
    if opts.processes:
        from avatar_bringup.processes import run_processes

        return run_processes(graph, opts.say, opts.gap, opts.linger, opts.log_level, opts.strict, writer)
    return run(graph, opts.say, opts.gap, opts.linger, opts.log_level, opts.strict, writer)


def run(graph, script: list[str], gap: float, linger: float, log_level: str, strict: bool = False,
        writer=None, driver_factory=None) -> int:
    """`writer`: an open BagWriter that records every topic of the namespace (--record), closed at the end.

    `driver_factory(context)`: makes the node that drives the run instead of the scripted conversation
    (e.g. the live demo's observer); the run ends when its `done` turns true."""
    from rclpy.logging import LoggingSeverity, set_logger_level

    from avatar_bringup.stack import Stack

    stop = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(graph, strict=strict)
    driver = None
    code = 0
    try:
        stack.start()
        for name, step in stack.failed.items():
            print(f"avatar-stack: node {name} failed to {step}; running without it (--strict exits instead)",
                  file=sys.stderr)
        dashboard = next((n for n in stack.nodes if n.get_name() == "dashboard"), None)
        if dashboard is not None and dashboard.url:
            print(f"dashboard: {dashboard.url}", file=sys.stderr, flush=True)
        for spec in graph.nodes:
            set_logger_level(f"{graph.namespace.strip('/').replace('/', '.')}.{spec.name}".strip("."),
                             getattr(LoggingSeverity, {"warning": "WARN"}.get(log_level, log_level.upper())))
        if writer is not None:
            from avatar_bringup.bag_nodes import record_namespace

            sim_time = any(spec.parameters.get("use_sim_time") for spec in graph.nodes)
            stack.add(record_namespace(writer, graph.namespace, sim_time, context=stack.context))
        if driver_factory is not None:
            driver = driver_factory(stack.context)
            stack.add(driver)
        elif script:
            from avatar_bringup.conversation_node import ConversationDriver

            driver = ConversationDriver(script, gap=gap, linger=linger, context=stack.context,
                                        namespace=graph.namespace)
            stack.add(driver)
        else:
            print(f"avatar-stack: running profile {graph.profile} in {graph.namespace} "
                  f"({len(graph.nodes)} nodes); Ctrl-C to stop", file=sys.stderr)
        while stop["signal"] is None and not (driver and driver.done):
            stack.spin_once(0.05)
    except GraphError as exc:
        print(f"avatar-stack: error: {exc}", file=sys.stderr)
        code = 2
    finally:
        started = time.monotonic()
        stack.shutdown()
        if writer is not None:
            writer.close()
            print(f"avatar-stack: recorded {writer.message_count} messages to {writer.path}", file=sys.stderr)
        for s, handler in previous.items():
            signal.signal(s, handler)
        took = time.monotonic() - started
        if took > SHUTDOWN_BUDGET_S:
            logging.getLogger("avatar_stack").warning("shutdown took %.1f s", took)
    return code  # Ctrl-C and SIGTERM are a normal, clean stop


def exit_without_teardown(code: int) -> NoReturn:
    """Exit once a graph is shut down in order (nodes destroyed, context closed): flush the output and
    skip the interpreter's teardown. Unloading torch and its CUDA libraries took 1-6 s here (measured
    between main() returning and the process exit), which would break the stop budgets."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def console_main() -> None:
    """Entry point of the `avatar-stack` command."""
    exit_without_teardown(main())


if __name__ == "__main__":
    console_main()
