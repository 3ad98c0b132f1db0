"""Small rclpy helpers every node of the stack shares: main(), parameters, diagnostics, messages.

Kept to APIs present in Humble, Jazzy and Kilted.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import rclpy
from avatar_msgs.msg import EmotionState
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter

from avatar_common import config as cfg
from avatar_common.emotion import Emotion, ordered, sanitize
from avatar_common.stamps import split_seconds, to_seconds
from avatar_common.throttle import Throttle

C = TypeVar("C")
INT64_MAX = 2**63 - 1

# Diagnostic levels as plain ints (DiagnosticStatus constants are bytes in some distros).
OK, WARN, ERROR = 0, 1, 2


NO_AUTOSTART = "--no-autostart"


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> None:
    """Standard main(): init, spin until Ctrl-C / SIGTERM / shutdown, then clean up.

    A lifecycle node started on its own (`ros2 run`) configures and activates itself; with
    `--no-autostart` (what the launch file passes) it waits for lifecycle transitions instead.
    """
    argv = list(sys.argv if args is None else args)
    rclpy.init(args=argv)
    node = None
    try:
        node = factory()
        if hasattr(node, "trigger_configure") and NO_AUTOSTART not in argv:
            failure = bring_up(node)
            if failure is not None:
                node.get_logger().error(f"{failure} failed; the node stays inactive (its diagnostics say why)")
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C shut the context down while the executor was waiting (RCLError from rcl's wait set):
        # a normal stop, not a fault worth a traceback
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def publish_while_up(node: Node, publisher: object, msg: object) -> bool:
    """Publish from a node's own thread; False (nothing sent, no traceback) when Ctrl-C has shut the
    context down under the thread, which the thread should take as its signal to stop."""
    try:
        publisher.publish(msg)  # type: ignore[attr-defined]
        return True
    except Exception:
        if node.context.ok():
            raise
        return False


def bring_up(node: Node) -> str | None:
    """Configure and activate a lifecycle node, checking each transition: None, or the one that failed.

    Used by `ros2 run` (run_node), the in-process runner and the per-node processes alike.
    """
    from rclpy.lifecycle import TransitionCallbackReturn

    for step in ("configure", "activate"):
        try:
            result = getattr(node, f"trigger_{step}")()
        except Exception as exc:  # a node's callback that raises is a failed transition, not a dead process
            node.get_logger().error(f"{step} raised {type(exc).__name__}: {exc}")
            return step
        if result != TransitionCallbackReturn.SUCCESS:
            return step
    return None


def descriptor(name: str, spec: cfg.ParamSpec) -> ParameterDescriptor:
    """The ParameterDescriptor `ros2 param describe` shows for a config field.

    Dynamic typing stays on so that `rate_hz:=30` (an int for a float) from a launch file or YAML is
    converted by the config rather than refused by rclpy; ranges and read-only are enforced by rclpy,
    type and choices by NodeConfig's on-set callback.
    """
    desc = ParameterDescriptor(name=name, description=spec.description, dynamic_typing=True,
                               read_only=spec.start_only, additional_constraints=spec.constraints())
    if spec.kind is float and (spec.low is not None or spec.high is not None):
        desc.floating_point_range = [FloatingPointRange(
            from_value=-math.inf if spec.low is None else float(spec.low),
            to_value=math.inf if spec.high is None else float(spec.high), step=0.0)]
    elif spec.kind is int and (spec.low is not None or spec.high is not None):
        desc.integer_range = [IntegerRange(
            from_value=-INT64_MAX if spec.low is None else int(spec.low),
            to_value=INT64_MAX if spec.high is None else int(spec.high), step=0)]
    return desc


class NodeConfig(Generic[C]):
    """A node's config dataclass (avatar_common.config) as ROS parameters, kept valid at run time.

    On construction every field is declared with its descriptor; a value from a launch file or a
    parameter file that the config does not accept is one error line and the field's default (the
    parameter is set to it, so `ros2 param get` tells the truth). Afterwards every change through
    the parameter services is validated as a whole: rejected with the reason, or applied to `config`
    and handed to `on_change(new_config, changed_names)` (which may raise ConfigError to refuse).
    Start-only fields are read-only, so rclpy refuses to change them.
    """

    def __init__(self, node: Node, cls: type[C], on_change: Callable[[C, set[str]], None] | None = None) -> None:
        self._node = node
        self._specs = cfg.specs(cls)
        self._on_change = on_change
        values = {}
        for name, spec in self._specs.items():
            node.declare_parameter(name, cfg.default(cls, name),
                                   ParameterDescriptor(description=spec.description, dynamic_typing=True))
            values[name] = node.get_parameter(name).value
        self.config, problems = cfg.salvage(cls, values)
        for problem in problems:
            node.get_logger().error(f"parameter {problem}")
        for name, spec in self._specs.items():
            value = getattr(self.config, name)
            if values[name] != value or type(values[name]) is not type(value):
                node.set_parameters([Parameter(name, value=value)])
            node.set_descriptor(name, descriptor(name, spec))
        node.add_on_set_parameters_callback(self._on_set)

    def _on_set(self, parameters: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in self._specs}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            new = cfg.replace(self.config, changes)
            names = cfg.changed(self.config, new)
            if names and self._on_change is not None:
                self._on_change(new, names)
        except cfg.ConfigError as exc:
            self._node.get_logger().warning(f"parameter change refused: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        for name in sorted(names):
            self._node.get_logger().info(f"parameter {name}: {getattr(self.config, name)!r} -> {getattr(new, name)!r}")
        self.config = new
        return SetParametersResult(successful=True)


class RepeatedLog:
    """A node's repeated warnings (a flood of bad messages, a device that keeps failing): the first
    occurrence at once, then at most one line per `period_s` per key with the count in between."""

    def __init__(self, node: Node, period_s: float = 10.0) -> None:
        self._node = node
        self._throttle = Throttle(period_s)

    def __call__(self, key: str, text: str, level: str = "warning") -> None:
        line = self._throttle.message(key, text, time.monotonic())
        if line is not None:
            getattr(self._node.get_logger(), level)(line)


class Diagnostics:
    """Publishes one DiagnosticStatus for a node on /diagnostics at `period` seconds.

    `check()` returns (level, message, {key: value}); it is called from the node's executor.
    """

    def __init__(self, node: Node, check: Callable[[], tuple[int, str, dict[str, Any]]],
                 period: float = 1.0) -> None:
        self._node = node
        self._check = check
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period, self.publish)

    def publish(self) -> None:
        level, message, values = self._check()
        name = f"{self._node.get_namespace().rstrip('/')}/{self._node.get_name()}"
        array = DiagnosticArray(status=[diagnostic_status(name, level, message, values)])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(array)

    def destroy(self) -> None:
        self._node.destroy_timer(self._timer)
        self._node.destroy_publisher(self._pub)


def diagnostic_status(name: str, level: int, message: str, values: dict[str, Any]) -> DiagnosticStatus:
    """A DiagnosticStatus with `level` 0/1/2 in the field type of this distro (bytes in some)."""
    return DiagnosticStatus(
        level=bytes([level]) if isinstance(DiagnosticStatus().level, bytes) else level,
        name=name, message=message, hardware_id="avatar",
        values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()],
    )


def stamp_seconds(stamp: Any) -> float:
    """Seconds of a builtin_interfaces/Time (or anything with sec and nanosec)."""
    return to_seconds(stamp.sec, stamp.nanosec)


def stamp_msg(seconds: float) -> Time:
    """builtin_interfaces/Time for `seconds`, with the nanoseconds carried into seconds."""
    sec, nanosec = split_seconds(seconds)
    return Time(sec=sec, nanosec=nanosec)


def emotion_from_msg(msg: EmotionState) -> tuple[Emotion, list[str]]:
    """Validate an incoming EmotionState (see avatar_common.emotion.sanitize)."""
    return sanitize(
        list(msg.labels), list(msg.weights), msg.valence, msg.arousal, msg.confidence,
        source=msg.source, utterance_id=msg.utterance_id, stamp=stamp_seconds(msg.header.stamp),
        micro_expression=msg.micro_expression, micro_intensity=msg.micro_intensity,
    )


def emotion_to_msg(emotion: Emotion, stamp: Any, source: str | None = None) -> EmotionState:
    """An EmotionState for a validated Emotion; `stamp` is a builtin_interfaces/Time."""
    labels, weights = ordered(emotion.weights)
    msg = EmotionState(
        source=source if source is not None else emotion.source,
        labels=labels, weights=weights,
        valence=float(emotion.valence), arousal=float(emotion.arousal),
        confidence=float(emotion.confidence), utterance_id=emotion.utterance_id,
        micro_expression=emotion.micro_expression, micro_intensity=float(emotion.micro_intensity),
    )
    msg.header.stamp = stamp
    return msg


def monotonic_ms() -> float:
    return time.monotonic() * 1000.0
