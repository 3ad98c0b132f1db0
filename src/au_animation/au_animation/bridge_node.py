"""face_bridge node: face/action_units (+ face/head_gaze) -> OSC / Live Link Face / Maestro / JointTrajectory.

A thin adapter around au_animation.bridges.pipeline.BridgeSet: parameters are the BridgeConfig
fields (the same names as the face-bridge CLI options), the subscription pushes frames, a timer at
servo_rate_hz steps the servo safety layer, diagnostics report per-target counters at 1 Hz.
Timing for the safety layer uses the monotonic clock, not ROS time, so a paused /clock cannot
freeze the input timeout. The latest face/head_gaze (if younger than input_timeout) rides along with
each AU frame as head_yaw ... eye_pitch in degrees: Live Link rotations, eyeLook curves, OSC, neck and
eye servos.
"""

from __future__ import annotations

import dataclasses
import math
import time

from avatar_common.node_utils import Diagnostics, NodeConfig, run_node, stamp_seconds
from avatar_msgs.msg import ActionUnits, HeadGaze
from builtin_interfaces.msg import Duration
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from au_animation.bridges.frames import from_lists, with_head_gaze
from au_animation.bridges.pipeline import BridgeConfig, BridgeSet, enabled

NODE_NAME = "face_bridge"
INPUT_TOPIC = "face/action_units"
GAZE_TOPIC = "face/head_gaze"


class FaceBridgeNode(Node):
    """Sends every AU frame to the configured targets; servos stay safe whatever arrives."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.params = NodeConfig(self, BridgeConfig, on_change=self._retune)
        config = self.params.config
        self._trajectory_pub = None
        if config.joint_trajectory:
            self._trajectory_pub = self.create_publisher(JointTrajectory, config.joint_trajectory_topic, 10)
        try:
            self.bridges = BridgeSet(config, trajectory_sink=self._publish_trajectory)
        except (ValueError, FileNotFoundError) as exc:
            self.get_logger().error(f"servo_map {config.servo_map!r}: {exc}; using the packaged simple_head map")
            self.bridges = BridgeSet(dataclasses.replace(config, servo_map=""),
                                     trajectory_sink=self._publish_trajectory)
        self.create_subscription(ActionUnits, INPUT_TOPIC, self.action_units_callback, 10)
        self.create_subscription(HeadGaze, GAZE_TOPIC, self.head_gaze_callback, 10)
        self._head_gaze: tuple[float, list[float]] | None = None  # (arrival, degrees)
        self._servo_timer = None
        if self.bridges.servo is not None:
            self.bridges.start()
            self._servo_timer = self.create_timer(1.0 / config.servo_rate_hz, self.servo_callback)
        self._flush_timer = None
        if self.bridges.osc or self.bridges.livelink:  # sends frames held back by the rate limits
            self._flush_timer = self.create_timer(0.005, self.flush_callback)
        self._diagnostics = Diagnostics(self, self.bridges.status)
        targets = [f"{f}={getattr(config, f)}" for f in ("osc", "livelink", "maestro") if enabled(getattr(config, f))]
        self.get_logger().info(f"face bridge: {', '.join(targets) or 'no network/serial target'}"
                               f"{', joint trajectory' if config.joint_trajectory else ''}")

    def _retune(self, config: BridgeConfig, changed: set[str]) -> None:
        self.bridges.retune(config)

    def head_gaze_callback(self, msg: HeadGaze) -> None:
        angles = [msg.head_yaw, msg.head_pitch, msg.head_roll, msg.eye_yaw, msg.eye_pitch]
        self._head_gaze = (time.monotonic(), [math.degrees(v) for v in angles])

    def action_units_callback(self, msg: ActionUnits) -> None:
        now = time.monotonic()
        frame = from_lists(list(msg.names), list(msg.intensities), stamp_seconds(msg.header.stamp))
        if self._head_gaze is not None and now - self._head_gaze[0] <= self.params.config.input_timeout:
            frame = with_head_gaze(frame, self._head_gaze[1])
        self.bridges.push(frame, now)

    def flush_callback(self) -> None:
        if self.bridges.holding:
            self.bridges.flush(time.monotonic())

    def servo_callback(self) -> None:
        self.bridges.tick(time.monotonic())

    def _publish_trajectory(self, joints: list[str], positions: list[float], period: float) -> None:
        if self._trajectory_pub is None:
            return
        seconds = int(period)
        point = JointTrajectoryPoint(positions=positions, time_from_start=Duration(
            sec=seconds, nanosec=int((period - seconds) * 1e9)))
        try:
            self._trajectory_pub.publish(JointTrajectory(joint_names=joints, points=[point]))
        except Exception as exc:  # context already shut down (Ctrl-C) during the stop ramp
            self.get_logger().debug(f"joint trajectory not published: {exc}")

    def destroy_node(self) -> None:
        """Neutral pose on stop: ramp the servos down (slew-limited) before the node goes away."""
        if self._servo_timer is not None:
            self.destroy_timer(self._servo_timer)
            self._servo_timer = None
        bridges = getattr(self, "bridges", None)
        if bridges is not None:
            bridges.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(FaceBridgeNode, args)


if __name__ == "__main__":
    main()
