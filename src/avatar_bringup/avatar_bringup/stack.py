"""Run a resolved Graph in one process: the same nodes `ros2 launch` would start, where only rclpy exists.

Each node's class comes from its `plugin` ("module:Class"); it gets the graph's namespace, its
parameters as overrides and its remappings as node-local arguments. Lifecycle nodes are configured
and activated, as the launch file does with lifecycle events.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import rclpy
from avatar_common.node_utils import bring_up
from rclpy.context import Context
from rclpy.executors import Executor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from avatar_bringup.graph import Graph, GraphError, NodeSpec

LOG = logging.getLogger("avatar_stack")


def load_plugin(spec: NodeSpec) -> type[Node]:
    """Import the node class of `spec`; a clear GraphError if its package is missing or broken."""
    module_name, class_name = spec.plugin.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GraphError(f"node {spec.name}: cannot import {module_name} ({exc})") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise GraphError(f"node {spec.name}: {module_name} has no class {class_name}")
    return cls


def node_kwargs(spec: NodeSpec, namespace: str, context: Context) -> dict[str, Any]:
    """Keyword arguments for a node class: what `ros2 launch` passes as command-line arguments."""
    cli_args = ["--ros-args"]
    for src, dst in spec.remappings:
        cli_args += ["-r", f"{src}:={dst}"]
    return {
        "context": context,
        "namespace": namespace,
        "parameter_overrides": [Parameter(k, value=v) for k, v in spec.parameters.items()],
        "cli_args": cli_args,
        "use_global_arguments": False,
    }


class Stack:
    """The graph's nodes in one executor. `start()`, then `spin_once()` in a loop, then `shutdown()`."""

    def __init__(self, graph: Graph, context: Context | None = None, executor: Executor | None = None,
                 strict: bool = False) -> None:
        """`context`/`executor`: join an existing rclpy context and executor (tests); default: own ones.

        `strict`: a lifecycle node that fails to come up raises GraphError; otherwise it stays in the
        graph unconfigured (its diagnostics say ERROR with the reason), it is listed in `failed`,
        and the rest of the graph runs on.
        """
        self.graph = graph
        self.context = context
        self.executor = executor
        self.strict = strict
        self._owns_executor = executor is None
        self._owns_context = context is None
        self.nodes: list[Node] = []
        self.failed: dict[str, str] = {}  # node name -> the transition that failed

    def start(self) -> None:
        if self.context is None:
            self.context = Context()
            rclpy.init(context=self.context, signal_handler_options=_no_signal_handlers())
        if self.executor is None:
            self.executor = SingleThreadedExecutor(context=self.context)
        classes = [(spec, load_plugin(spec)) for spec in self.graph.nodes]  # fail before starting any
        for spec, cls in classes:
            node = cls(**node_kwargs(spec, self.graph.namespace, self.context))
            self.nodes.append(node)
            self.executor.add_node(node)
            failure = bring_up(node) if spec.lifecycle else None
            if failure is None:
                LOG.info("started %s/%s", self.graph.namespace.rstrip("/"), spec.name)
                continue
            self.failed[spec.name] = failure
            if self.strict:
                raise GraphError(f"node {spec.name}: {failure} failed (see its log above)")
            LOG.error("node %s: %s failed; it stays inactive and the rest of the graph runs (see /diagnostics)",
                      spec.name, failure)

    def add(self, node: Node) -> None:
        """Spin an extra node (e.g. the conversation driver) in the same executor."""
        assert self.executor is not None
        self.executor.add_node(node)
        self.nodes.append(node)

    def spin_once(self, timeout_sec: float = 0.05) -> None:
        assert self.executor is not None
        self.executor.spin_once(timeout_sec=timeout_sec)

    def shutdown(self) -> None:
        """Destroy nodes in reverse start order and shut the context down."""
        for node in reversed(self.nodes):
            try:
                if self.executor is not None:
                    self.executor.remove_node(node)
                node.destroy_node()
            except Exception as exc:
                LOG.warning("error while destroying %s: %s", node.get_name(), exc)
        self.nodes.clear()
        if self._owns_executor and self.executor is not None:
            self.executor.shutdown(timeout_sec=1.0)
        if self._owns_context and self.context is not None:
            rclpy.try_shutdown(context=self.context)


def _no_signal_handlers() -> Any:
    """The runner handles SIGINT/SIGTERM itself so it can shut down in order."""
    from rclpy.signals import SignalHandlerOptions

    return SignalHandlerOptions.NO
