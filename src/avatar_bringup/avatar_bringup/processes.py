"""`avatar-stack --processes`: every node of the graph in its own OS process, supervised.

A crash in one node (a model library, a driver) no longer takes the face down: the child is
restarted with back-off (avatar_bringup.supervisor), with a log line, and the parent publishes one
/diagnostics entry per child at 1 Hz. SIGINT/SIGTERM stop the children in reverse start order
within STOP_BUDGET_S. The parent also hosts the scripted conversation (--say) and the recorder
(--record), so those behave as in the one-process runner.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from avatar_bringup.graph import Graph, NodeSpec
from avatar_bringup.supervisor import EXIT_CONFIG, RestartPolicy, Supervisor

LOG = logging.getLogger("avatar_stack")
STOP_BUDGET_S = 4.0  # SIGINT each child, then SIGKILL what is left: the stack exits within 5 s
STOP_SLICE_S = 1.0  # how long one child may take before the next one is asked to stop
BOOTSTRAP_GUARD = "_ROS_WHEELS_BOOTSTRAP_COMPLETE"
ROS_LEVELS = {"debug": "DEBUG", "info": "INFO", "warning": "WARN", "error": "ERROR"}
PR_SET_PDEATHSIG = 1
# Under CPU contention the 60 Hz frame loop and the output bridge must win: every other node (models,
# fusion of hundreds of estimates per second, the dashboard) runs at a higher niceness.
FRAME_LOOP_NODES = ("expression_synthesizer", "face_bridge")
OTHER_NODE_NICENESS = 5


def child_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment of a node process.

    The ROS wheels' bootstrapper marks a process whose LD_LIBRARY_PATH it has set up; a child that
    inherits the mark skips its own set-up, which is wrong for any interpreter but ours. Without the
    mark each child prepares its own library path (it keeps what is already there).
    """
    out = {k: v for k, v in env.items() if k != BOOTSTRAP_GUARD}
    out["PYTHONUNBUFFERED"] = "1"  # log lines of a child that is killed are not lost in a buffer
    return out


def write_params(spec: NodeSpec, folder: Path) -> Path:
    """A ROS 2 parameter file with the node's resolved parameters (one file per child)."""
    path = folder / f"{spec.name}.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": dict(spec.parameters)}}, sort_keys=True))
    return path


def child_command(spec: NodeSpec, namespace: str, params_file: Path | None, log_level: str = "warning",
                  strict: bool = False, python: str = sys.executable) -> list[str]:
    """The command line of one node process: the same name, namespace, parameters and remappings as
    the launch file gives it."""
    cmd = [python, "-m", "avatar_bringup.node_process", spec.plugin, *(["--strict"] if strict else []),
           "--ros-args", "-r", f"__node:={spec.name}", "-r", f"__ns:={namespace}"]
    if params_file is not None and spec.parameters:
        cmd += ["--params-file", str(params_file)]
    for src, dst in spec.remappings:
        cmd += ["-r", f"{src}:={dst}"]
    return [*cmd, "--log-level", ROS_LEVELS.get(log_level, "WARN")]


def _child_setup(niceness: int = 0) -> Callable[[], None]:
    """Run in each child before exec: its own process group (a terminal's Ctrl-C reaches only the
    parent, which stops children in order), `niceness` added, and, on Linux, death with the parent
    (no orphans after a SIGKILL of the stack)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        prctl = None

    def setup() -> None:
        os.setpgid(0, 0)
        if niceness:
            os.nice(niceness)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


class ProcessGroup:
    """The graph's node processes: start what the supervisor says is due, notice exits, stop in order."""

    def __init__(self, graph: Graph, workdir: Path, log_level: str = "warning", strict: bool = False,
                 policy: RestartPolicy | None = None) -> None:
        self.graph = graph
        self.strict = strict
        self.supervisor = Supervisor([s.name for s in graph.nodes], policy or RestartPolicy())
        self.procs: dict[str, subprocess.Popen] = {}
        self.fatal = ""  # set when --strict and a node refused its configuration
        self._env = child_environment(dict(os.environ))
        self._setups = {s.name: _child_setup(0 if s.name in FRAME_LOOP_NODES else OTHER_NODE_NICENESS)
                        for s in graph.nodes}
        self._commands = {s.name: child_command(s, graph.namespace, write_params(s, workdir), log_level, strict)
                          for s in graph.nodes}

    def poll(self, now: float | None = None) -> None:
        """Reap exited children (scheduling restarts) and start the ones that are due."""
        now = time.monotonic() if now is None else now
        for name, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.procs[name]
            delay = self.supervisor.exited(name, code, now)
            child = self.supervisor.children[name]
            if code == EXIT_CONFIG and self.strict:
                self.fatal = f"node {name} failed to come up (--strict)"
            elif delay is None:
                LOG.error("node %s exited (%s) and stays down: %s", name, child.last_exit, child.given_up)
            else:
                LOG.warning("node %s exited (%s); restart %d in %.1f s", name, child.last_exit, child.restarts,
                            delay)
        for name in self.supervisor.due(now):
            proc = subprocess.Popen(self._commands[name], env=self._env, preexec_fn=self._setups[name])
            self.procs[name] = proc
            self.supervisor.started(name, proc.pid, now)
            if self.supervisor.children[name].restarts:
                LOG.warning("node %s restarted (pid %d)", name, proc.pid)

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def stop(self, budget: float = STOP_BUDGET_S) -> None:
        """SIGINT the children last-started first, each given up to STOP_SLICE_S; SIGKILL the rest."""
        deadline = time.monotonic() + budget
        for name in self.supervisor.stop_order():
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGINT)
            _wait(proc, min(STOP_SLICE_S, deadline - time.monotonic()))
        for name, proc in self.procs.items():
            if not _wait(proc, deadline - time.monotonic()):
                LOG.warning("node %s did not stop within %.1f s; killed", name, budget)
                proc.kill()
                proc.wait()
        self.procs.clear()


def _wait(proc: subprocess.Popen, timeout: float) -> bool:
    try:
        proc.wait(timeout=max(0.0, timeout))
        return True
    except subprocess.TimeoutExpired:
        return False


def supervisor_node(group: ProcessGroup, context: Any) -> Any:
    """A node that publishes one DiagnosticStatus per child process on /diagnostics at 1 Hz."""
    from avatar_common.node_utils import diagnostic_status
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node

    node = Node("stack_supervisor", namespace=group.graph.namespace, context=context)
    pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
    prefix = group.graph.namespace.rstrip("/")

    def publish() -> None:
        now = time.monotonic()
        statuses = []
        for name in group.supervisor.children:
            level, message, values = group.supervisor.status(name, now)
            statuses.append(diagnostic_status(f"{prefix}/{name} (process)", level, message, values))
        array = DiagnosticArray(status=statuses)
        array.header.stamp = node.get_clock().now().to_msg()
        pub.publish(array)

    node.create_timer(1.0, publish)
    return node


def run_processes(graph: Graph, script: list[str], gap: float, linger: float, log_level: str,
                  strict: bool = False, writer: Any = None, driver_factory: Any = None) -> int:
    """Run `graph` one process per node until SIGINT/SIGTERM (or the script played out); exit status.

    `driver_factory(context)`: as in stack_cli.run, a node in this process that drives the run."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from avatar_bringup.stack import _no_signal_handlers

    stop = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    context = Context()
    rclpy.init(context=context, signal_handler_options=_no_signal_handlers())
    executor = SingleThreadedExecutor(context=context)
    code = 0
    with tempfile.TemporaryDirectory(prefix="avatar-stack-") as workdir:
        group = ProcessGroup(graph, Path(workdir), log_level, strict)
        nodes = [supervisor_node(group, context)]
        driver = None
        try:
            if writer is not None:
                from avatar_bringup.bag_nodes import record_namespace

                sim_time = any(spec.parameters.get("use_sim_time") for spec in graph.nodes)
                nodes.append(record_namespace(writer, graph.namespace, sim_time, context=context))
            if driver_factory is not None:
                driver = driver_factory(context)
                nodes.append(driver)
            elif script:
                from avatar_bringup.conversation_node import ConversationDriver

                driver = ConversationDriver(script, gap=gap, linger=linger, context=context,
                                            namespace=graph.namespace)
                nodes.append(driver)
            for node in nodes:
                executor.add_node(node)
            group.poll()
            print(f"avatar-stack: running profile {graph.profile} in {graph.namespace} as {len(graph.nodes)} "
                  f"processes ({', '.join(f'{n} pid {p}' for n, p in group.pids().items())}); Ctrl-C to stop",
                  file=sys.stderr, flush=True)
            while stop["signal"] is None and not (driver and driver.done) and not group.fatal:
                executor.spin_once(timeout_sec=0.05)
                group.poll()
            if group.fatal:
                print(f"avatar-stack: error: {group.fatal}", file=sys.stderr)
                code = 2
        finally:
            started = time.monotonic()
            group.stop()
            for node in reversed(nodes):
                executor.remove_node(node)
                node.destroy_node()
            executor.shutdown(timeout_sec=1.0)
            rclpy.try_shutdown(context=context)
            if writer is not None:
                writer.close()
                print(f"avatar-stack: recorded {writer.message_count} messages to {writer.path}", file=sys.stderr)
            for s, handler in previous.items():
                signal.signal(s, handler)
            LOG.info("stopped %d processes in %.1f s", len(graph.nodes), time.monotonic() - started)
    return code
