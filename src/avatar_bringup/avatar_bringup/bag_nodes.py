"""The ROS side of sessions: a recorder (generic raw subscriptions -> BagWriter) and a player.

Thin adapters over avatar_bringup.bag. Types are found by name ('pkg/msg/Type' ->
`importlib.import_module('pkg.msg').Type`), so any installed message package can be recorded and
played; rosidl_runtime_py is not needed (it is not available as a wheel).
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from avatar_common.stamps import split_ns
from avatar_common.throttle import Throttle
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock as ClockMsg

from avatar_bringup.bag import qos as bag_qos
from avatar_bringup.bag import types as bag_types
from avatar_bringup.bag.errors import BagError
from avatar_bringup.bag.writer import BagWriter

DISCOVERY_PERIOD_S = 0.2
CLOCK_TOPIC = "/clock"


def message_class(msgtype: str) -> Any:
    """The Python class of 'pkg/msg/Type'; BagError when its package is not installed."""
    name = bag_types.normalize(msgtype)
    package, _, cls = name.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), cls)
    except (ImportError, AttributeError):
        raise BagError(f"message type {name} is not installed (no module {package}.msg with {cls})") from None


def qos_profile(policy: bag_qos.Policy) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=policy.depth,
        reliability=ReliabilityPolicy.RELIABLE if policy.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if policy.transient_local else DurabilityPolicy.VOLATILE)


class BagRecorder(Node):
    """Subscribes (serialized, any type) to the chosen topics as they appear and writes them to a bag.

    Args:
        writer: the open bag.
        topics: absolute topic names to record.
        include: regular expression of further topics to record as they appear ('' = none;
            '.*' = every topic, as `--all`).
    """

    def __init__(self, writer: BagWriter, topics: Iterable[str] = (), include: str = "", **kwargs: Any) -> None:
        super().__init__("avatar_bag_recorder", **kwargs)
        self.writer = writer
        self._wanted = set(topics)
        self._include = re.compile(include) if include else None
        self._recorded: dict[str, Any] = {}
        self._skipped = Throttle(60.0)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        # Steady timers: with use_sim_time the node clock stands still until /clock arrives.
        self.create_timer(DISCOVERY_PERIOD_S, self.discover, clock=steady)
        self.create_timer(writer.chunk_ns * 1e-9, writer.flush, clock=steady)
        self.discover()

    @property
    def recording(self) -> list[str]:
        return sorted(self._recorded)

    def _wants(self, topic: str) -> bool:
        if topic in self._wanted:
            return True
        return bool(self._include and self._include.match(topic)) and "/_" not in topic

    def discover(self) -> None:
        """Subscribe to every wanted topic that has a publisher now (late topics are picked up here)."""
        for topic, type_names in self.get_topic_names_and_types():
            if topic in self._recorded or not self._wants(topic) or not type_names:
                continue
            try:
                cls = message_class(type_names[0])
                offered = [bag_qos.to_bag(info.qos_profile) for info in self.get_publishers_info_by_topic(topic)]
                if not offered:
                    continue  # only subscribers so far: subscribe once a publisher offers its QoS
                self.writer.add_topic(topic, type_names[0], offered)
            except BagError as exc:
                line = self._skipped.message(topic, f"not recording {topic}: {exc}", time.monotonic())
                if line:
                    self.get_logger().warning(line)
                continue
            policy = bag_qos.for_recording(offered)
            self._recorded[topic] = self.create_subscription(
                cls, topic, self._writer_for(topic), qos_profile(policy), raw=True)
            self.get_logger().info(f"recording {topic} ({type_names[0]})")

    def _writer_for(self, topic: str) -> Callable[[bytes], None]:
        write, clock = self.writer.write, self.get_clock()

        def store(data: bytes) -> None:
            write(topic, clock.now().nanoseconds, data)

        return store


class BagPlayer(Node):
    """Publishes serialized messages with their recorded QoS, and /clock with the bag's time."""

    def __init__(self, connections: Iterable[tuple[str, str, list]], clock: bool = True, **kwargs: Any) -> None:
        """`connections`: (output topic, type name, recorded offered QoS profiles) per played topic."""
        super().__init__("avatar_bag_player", **kwargs)
        self.publishers_by_topic: dict[str, Any] = {}
        for topic, msgtype, offered in connections:
            if topic not in self.publishers_by_topic:
                self.publishers_by_topic[topic] = self.create_publisher(
                    message_class(msgtype), topic, qos_profile(bag_qos.for_playback(offered)))
        self.clock_publisher = self.create_publisher(ClockMsg, CLOCK_TOPIC, 10) if clock else None
        self._clock_msg = ClockMsg()

    def publish_clock(self, bag_ns: int) -> None:
        if self.clock_publisher is not None:
            self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = split_ns(bag_ns)
            self.clock_publisher.publish(self._clock_msg)

    def publish(self, topic: str, data: bytes) -> None:
        self.publishers_by_topic[topic].publish(data)

    def wait_for_subscribers(self, timeout_s: float, count: int = 1) -> bool:
        """Wait until every publisher, /clock's included, has `count` matched subscriptions."""
        publishers = [*self.publishers_by_topic.values(), *([self.clock_publisher] if self.clock_publisher else [])]
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if all(p.get_subscription_count() >= count for p in publishers):
                return True
            time.sleep(0.02)
        return False

    def wait_for_acks(self, timeout_s: float) -> None:
        """Before exit: reliable readers have every sample (else the last ones die with the process)."""
        for publisher in self.publishers_by_topic.values():
            publisher.wait_for_all_acked(Duration(nanoseconds=int(timeout_s * 1e9)))


def namespace_pattern(namespace: str) -> str:
    """The topics a session recording keeps: everything in the graph's namespace (as the launch file's record)."""
    return f"^{re.escape(namespace.rstrip('/'))}/"


def record_namespace(writer: BagWriter, namespace: str, use_sim_time: bool, **kwargs: Any) -> BagRecorder:
    """A recorder of every topic in `namespace` (for avatar-stack --record); spin it with the graph."""
    from rclpy.parameter import Parameter

    return BagRecorder(writer, include=namespace_pattern(namespace),
                       parameter_overrides=[Parameter("use_sim_time", value=use_sim_time)], **kwargs)


class Resynthesizer:
    """Drives a real ExpressionSynthesizerNode under sim time, one frame per /clock step (see bag.resynth).

    Both nodes spin in one executor of `context`. rclpy's EventsExecutor (Jazzy and later) runs
    callbacks in arrival order, so an input acknowledged before the next /clock step is applied
    before it; the SingleThreadedExecutor fallback (Humble) runs every ready callback first.
    """

    def __init__(self, context: Any, namespace: str, parameters: dict[str, Any],
                 inputs: dict[str, str], wait_s: float = 10.0) -> None:
        """`inputs`: topic (relative to `namespace`) -> type name; `parameters`: the synthesizer's."""
        from au_animation.expression_node import ExpressionSynthesizerNode
        from rclpy.parameter import Parameter

        quiet = {"context": context, "namespace": namespace or "/", "start_parameter_services": False,
                 "enable_rosout": False}
        overrides = [Parameter(k, value=v) for k, v in parameters.items()]
        self.synth = ExpressionSynthesizerNode(**quiet, parameter_overrides=[
            *overrides, Parameter("use_sim_time", value=True)])
        self.driver = Node("avatar_bag_resynth", **quiet)
        self.wait_s = wait_s
        self.frames: list[bytes] = []
        self.driver.create_subscription(message_class("avatar_msgs/msg/ActionUnits"), "face/action_units",
                                        self.frames.append, QoSProfile(depth=1000), raw=True)
        self.clock = self.driver.create_publisher(ClockMsg, CLOCK_TOPIC, 10)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.inputs = {topic: self.driver.create_publisher(message_class(t), topic, reliable)
                       for topic, t in inputs.items()}
        self.executor = _fast_executor(context)
        self.executor.add_node(self.synth)
        self.executor.add_node(self.driver)
        self._clock_msg = ClockMsg()
        self._now = 0  # no /clock yet: the synthesizer's sim time reads 0
        self._ticks = 0
        self._spin_until(lambda: all(p.get_subscription_count() for p in (self.clock, *self.inputs.values()))
                         and self.driver.count_publishers("face/action_units") > 0, "the synthesizer's topics")

    def output_qos(self) -> list:
        return [bag_qos.to_bag(i.qos_profile) for i in self.driver.get_publishers_info_by_topic("face/action_units")]

    def tick(self, t_ns: int) -> bytes:
        """Set the sim clock to `t_ns` and return the frame the synthesizer publishes for it."""
        if len(self.frames) != self._ticks:
            raise BagError(f"the synthesizer published a frame before {t_ns} ns that the schedule has not: "
                           "the session cannot be reproduced (see docs/sessions.md)")
        self._ticks += 1
        self._publish_clock(t_ns)
        self._spin_until(lambda: len(self.frames) >= self._ticks, f"the frame at {t_ns} ns")
        return self.frames[-1]

    def deliver(self, topic: str, data: bytes, clock_ns: int) -> None:
        """Deliver one input while the sim clock reads `clock_ns`; return once the synthesizer's reader holds it."""
        if clock_ns != self._now:
            self._publish_clock(clock_ns)
            self._spin_until(lambda: self.synth.get_clock().now().nanoseconds == clock_ns, f"sim time {clock_ns}")
        publisher = self.inputs[topic]
        publisher.publish(data)
        if not publisher.wait_for_all_acked(Duration(seconds=self.wait_s)):
            raise BagError(f"the synthesizer did not acknowledge {topic} within {self.wait_s:g} s")
        _settle(self.executor)

    def _publish_clock(self, t_ns: int) -> None:
        self._now = t_ns
        self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = split_ns(t_ns)
        self.clock.publish(self._clock_msg)

    def close(self) -> None:
        for node in (self.driver, self.synth):
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()

    def _spin_until(self, done: Callable[[], bool], what: str) -> None:
        end = time.monotonic() + self.wait_s
        while not done():
            if time.monotonic() > end:
                raise BagError(f"timed out after {self.wait_s:g} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.01)


def _fast_executor(context: Any) -> Any:
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:  # Humble
        from rclpy.executors import SingleThreadedExecutor

        return SingleThreadedExecutor(context=context)
    return EventsExecutor(context=context)


def _settle(executor: Any) -> None:
    """SingleThreadedExecutor: run every ready callback now. EventsExecutor: nothing (callbacks run in order)."""
    from rclpy.executors import SingleThreadedExecutor, TimeoutException

    if not isinstance(executor, SingleThreadedExecutor):
        return
    while True:
        try:
            handler, _entity, _node = executor.wait_for_ready_callbacks(timeout_sec=0)
        except TimeoutException:
            return
        handler()
