"""Small rclpy helpers every node of the stack shares: main(), parameters, diagnostics, messages.

Kept to APIs present in Humble, Jazzy and Kilted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import rclpy
from avatar_msgs.msg import EmotionState
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from avatar_common.emotion import Emotion, ordered, sanitize

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
            node.trigger_configure()
            node.trigger_activate()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def declare(node: Node, name: str, default: Any, description: str) -> Any:
    """Declare a parameter with a description and return its value, converted to the default's type.

    Declared with dynamic typing so that `-p rate_hz:=30` (an int for a float) or a string does not
    raise InvalidParameterTypeException in the constructor; an unusable value is one error line and
    the default.
    """
    node.declare_parameter(name, default, ParameterDescriptor(description=description, dynamic_typing=True))
    value = node.get_parameter(name).value
    if value is None or isinstance(default, bool) != isinstance(value, bool):
        node.get_logger().error(f"parameter {name}={value!r} has the wrong type; using {default!r}")
        return default
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        node.get_logger().error(f"parameter {name}={value!r} is unusable; using {default!r}")
        return default


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
        status = DiagnosticStatus(
            level=bytes([level]) if isinstance(DiagnosticStatus().level, bytes) else level,
            name=f"{self._node.get_namespace().rstrip('/')}/{self._node.get_name()}",
            message=message,
            hardware_id="avatar",
            values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(array)

    def destroy(self) -> None:
        self._node.destroy_timer(self._timer)
        self._node.destroy_publisher(self._pub)


def stamp_seconds(stamp: Any) -> float:
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


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
