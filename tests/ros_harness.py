"""Reusable harness for real-rclpy tests: an isolated context, an executor, collectors and waits.

Every test gets its own rclpy Context on a domain id private to this test run (set in conftest.py
before rclpy is imported), so tests neither see each other's traffic nor that of other processes.
Nodes under test are real nodes added to the harness executor; the harness owns a tester node for
publishing and subscribing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy


class RosHarness:
    """Spins real nodes in one executor and waits for what they publish, with timeouts."""

    def __init__(self, namespace: str = "") -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.tester = Node("tester", namespace=namespace, context=self.context)
        self.executor.add_node(self.tester)
        self._nodes: list[Node] = [self.tester]

    # -- nodes ---------------------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        """Spin `node` with the harness executor; it is destroyed at close()."""
        self.executor.add_node(node)
        self._nodes.append(node)
        return node

    def node_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        """Keyword arguments that put a node under test into this harness's context."""
        return {"context": self.context, **kwargs}

    # -- traffic -------------------------------------------------------------------------------
    def collect(self, msg_type: Any, topic: str, depth: int = 100, reliable: bool = True) -> list[Any]:
        """Subscribe the tester node to `topic`; the returned list fills as messages arrive."""
        received: list[Any] = []
        qos = QoSProfile(depth=depth)
        qos.reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        self.tester.create_subscription(msg_type, topic, received.append, qos)
        return received

    def publisher(self, msg_type: Any, topic: str, depth: int = 10) -> Any:
        return self.tester.create_publisher(msg_type, topic, depth)

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until discovery has matched `publisher` with `count` subscriptions."""
        self.spin_until(lambda: publisher.get_subscription_count() >= count, timeout,
                        f"{count} subscriber(s) on {publisher.topic_name}")

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.01, max(0.0, end - time.monotonic())))

    def spin_until(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        """Spin until `predicate()` is true; fail the test with `what` after `timeout` seconds."""
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.01)

    def wait_for_messages(self, received: list[Any], count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Spin until `received` (from collect()) holds `count` messages; return them."""
        self.spin_until(lambda: len(received) >= count, timeout, f"{count} message(s)")
        return received

    # -- teardown ------------------------------------------------------------------------------
    def close(self) -> None:
        for node in reversed(self._nodes):
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()
        rclpy.try_shutdown(context=self.context)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.02) -> None:
    """Plain (non-ROS) wait with a timeout, for processes and sockets."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(poll)


def names(items: Iterable[Any]) -> list[str]:
    return [getattr(i, "name", str(i)) for i in items]
