"""expression_synthesizer: fused emotion + speaking flags in, face/action_units out at a fixed rate.

A thin adapter around au_animation.engine.Synthesizer. Callbacks only queue their input with the
node-clock time it arrived; the timer (node clock, so `use_sim_time` works) applies the queue at
those times (the engine never goes back before its last frame) and publishes one ActionUnits frame
stamped with the tick's time. Applying at arrival rather than at the tick makes the very next frame
reflect a new estimate: a curve that starts at the tick itself is C1-flat there, so the change would
only show one frame later (bench/fusion.py: 2 frames at p99 before, 1 after). Engine time is
seconds since the first tick, so the same messages under the same (sim) clock give identical frames.

Topics (relative): affect/fused (avatar_msgs/EmotionState), speech/user_speaking and avatar/speaking
(std_msgs/Bool), face/detections (avatar_msgs/FaceDetections), camera/camera_info (sensor_msgs/CameraInfo,
optional: intrinsics instead of the field-of-view parameters) and look_at (geometry_msgs/PointStamped, a
point in the head frame: x forward, y left, z up, metres) in; face/action_units (avatar_msgs/ActionUnits)
and face/head_gaze (avatar_msgs/HeadGaze, same stamps) out; /diagnostics at 1 Hz.
"""

from __future__ import annotations

import math
import time
from typing import Any

from avatar_common.config import ConfigError
from avatar_common.node_utils import ERROR, OK, WARN, Diagnostics, NodeConfig, RepeatedLog, emotion_from_msg, run_node
from avatar_msgs.msg import ActionUnits, EmotionState, FaceDetections, HeadGaze
from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Bool

from au_animation.engine import Synthesizer
from au_animation.engine.config import ExpressionConfig
from au_animation.engine.gaze_target import Camera, Face, TargetSelector, point_direction

QUEUE_LIMIT = 1000  # events kept between two ticks; older ones are dropped first
REBUILD_FIELDS = {"mode", "profile", "life", "seed", "gaze"}  # changing these rebuilds the engine


class ExpressionSynthesizerNode(Node):
    """Publishes the synthesizer's AU vector on face/action_units at `rate_hz`.

    Parameters are ExpressionConfig's fields. `intensity` applies from the next frame; `mode`,
    `profile`, `life` and `seed` rebuild the engine and re-apply the latest emotion and speaking
    flags at once, so `ros2 param set .../expression_synthesizer mode static` changes the face now.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("expression_synthesizer", **kwargs)
        self.params = NodeConfig(self, ExpressionConfig, on_change=self._reconfigure)
        config = self.params.config
        self.rate_hz = config.rate_hz
        self.synth = self._engine(config)
        self._names = list(self.synth.channels)
        self._msg = ActionUnits(names=self._names)
        self._gaze_msg = HeadGaze()
        self._camera_k: list[float] | None = None  # from camera/camera_info once a calibrated one arrives
        self.selector = self._selector(config)
        self._pending: list[tuple[str, Any, int]] = []
        self._latest: dict[str, Any] = {}  # kind -> last payload, re-applied after a rebuild
        self._origin_ns: int | None = None
        self._step_us: list[float] = []
        self._dropped = 0
        self._problems = 0
        self._repeated = RepeatedLog(self)
        self._received = 0

        self.publisher = self.create_publisher(ActionUnits, "face/action_units", 10)
        self.gaze_publisher = self.create_publisher(HeadGaze, "face/head_gaze", 10)
        self.create_subscription(FaceDetections, "face/detections", self.detections_callback, 10)
        self.create_subscription(CameraInfo, "camera/camera_info", self.camera_info_callback, 1)
        self.create_subscription(PointStamped, "look_at", self.look_at_callback, 10)
        self.create_subscription(EmotionState, "affect/fused", self.emotion_callback, 10)
        self.create_subscription(Bool, "speech/user_speaking", self.user_speaking_callback, 10)
        self.create_subscription(Bool, "avatar/speaking", self.avatar_speaking_callback, 10)
        self.timer = self.create_timer(1.0 / self.rate_hz, self.tick)
        self.diagnostics = Diagnostics(self, self.check)
        self.get_logger().info(
            f"expression synthesizer: {config.mode}/{config.profile}, {self.rate_hz:g} Hz, "
            f"{len(self._names)} AU channels")

    def _engine(self, config: ExpressionConfig) -> Synthesizer:
        tables = getattr(getattr(self, "synth", None), "tables", None)  # loaded once, reused on rebuilds
        return Synthesizer(mode=config.mode, profile=config.profile, seed=config.seed, life=config.life,
                           tables=tables, intensity=config.intensity, gaze=config.gaze and config.mode == "dynamic")

    def _selector(self, config: ExpressionConfig) -> TargetSelector:
        return TargetSelector(self._camera(config), lost_after=config.face_lost_s, face_width_m=config.face_width_m,
                              point_timeout=config.look_at_timeout_s)

    def _camera(self, config: ExpressionConfig) -> Camera:
        """The camera model: CameraInfo intrinsics once known, else the field-of-view parameters."""
        pose = {"offset": (config.camera_x, config.camera_y, config.camera_z), "yaw": config.camera_yaw_deg,
                "pitch": config.camera_pitch_deg}
        if self._camera_k is not None:
            return Camera.from_k(self._camera_k, **pose)
        return Camera.from_fov(config.camera_width, config.camera_height, config.camera_hfov_deg, **pose)

    def _reconfigure(self, config: ExpressionConfig, changed: set[str]) -> None:
        """Run-time parameter change (already validated): apply it from the next frame on."""
        if not changed & REBUILD_FIELDS:
            selector = self.selector  # tunables: same engine time, keep the current target
            selector.camera = self._camera(config)
            selector.lost_after, selector.face_width_m = config.face_lost_s, config.face_width_m
            selector.point_timeout = config.look_at_timeout_s
            self.synth.intensity = config.intensity
            return
        try:
            synth = self._engine(config)
        except ValueError as exc:  # tables refuse the combination
            raise ConfigError(str(exc)) from None
        self.synth = synth
        self.selector = self._selector(config)  # engine time restarts: targets come back with the next detection
        self._origin_ns = None  # engine time restarts at the next tick; the latest input is replayed there
        for kind, payload in self._latest.items():
            self._pending.append((kind, payload, -1))

    # -- callbacks: store input only ---------------------------------------------------------------
    def _queue(self, kind: str, payload: Any) -> None:
        if len(self._pending) >= QUEUE_LIMIT:
            self._pending.pop(0)
            self._dropped += 1
        self._latest[kind] = payload
        self._pending.append((kind, payload, self.get_clock().now().nanoseconds))

    def emotion_callback(self, msg: EmotionState) -> None:
        self._received += 1
        self._queue("emotion", msg)

    def user_speaking_callback(self, msg: Bool) -> None:
        self._queue("user", bool(msg.data))

    def avatar_speaking_callback(self, msg: Bool) -> None:
        self._queue("avatar", bool(msg.data))

    def detections_callback(self, msg: FaceDetections) -> None:
        self._queue("faces", [Face(float(f.x), float(f.y), float(f.width), float(f.height), f.id) for f in msg.faces])

    def look_at_callback(self, msg: PointStamped) -> None:
        direction = point_direction(msg.point.x, msg.point.y, msg.point.z)
        if direction is None:
            self._warn_input(f"look_at: point ({msg.point.x}, {msg.point.y}, {msg.point.z}) has no direction")
            return
        self._queue("point", direction)

    def camera_info_callback(self, msg: CameraInfo) -> None:
        k = [float(v) for v in msg.k]
        if k == self._camera_k:
            return
        try:
            camera = Camera.from_k(k)
        except ValueError as exc:
            self._warn_input(f"camera/camera_info: {exc}; keeping the field-of-view model")
            return
        self._camera_k = k
        self.selector.camera = self._camera(self.params.config)
        self.get_logger().info(f"gaze target: camera intrinsics from CameraInfo (fx {camera.fx:.1f} px)")

    def _warn_input(self, text: str) -> None:
        self._repeated(text.split(":")[0], text)

    # -- timer ---------------------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.get_clock().now()
        if self._origin_ns is None or now.nanoseconds < self._origin_ns:
            if self._origin_ns is not None:
                self.get_logger().warning("clock went back: expression state reset")
                self.synth.reset()
            self._origin_ns = now.nanoseconds
        t = (now.nanoseconds - self._origin_ns) * 1e-9
        start = time.perf_counter()
        pending, self._pending = self._pending, []
        for kind, payload, arrived_ns in pending:  # arrived_ns -1: replayed after a rebuild, applies now
            self._apply(kind, payload, max(0.0, (arrived_ns - self._origin_ns) * 1e-9))
        target = self.selector.current(t)
        self.synth.set_look_at(*(target if target is not None else (None, None)))
        values = self.synth.step_array(t)
        msg = self._msg  # reused: names never change, only stamp and intensities
        msg.header.stamp = now.to_msg()
        msg.intensities = values.tolist()
        self.publisher.publish(msg)
        gaze = self._gaze_msg
        gaze.header.stamp = msg.header.stamp
        gaze.head_yaw, gaze.head_pitch, gaze.head_roll, gaze.eye_yaw, gaze.eye_pitch = (
            math.radians(v) for v in self.synth.head_gaze)
        self.gaze_publisher.publish(gaze)
        self._step_us.append((time.perf_counter() - start) * 1e6)
        if len(self._step_us) > 600:
            del self._step_us[:300]

    def _apply(self, kind: str, payload: Any, t: float) -> None:
        if kind == "emotion":
            emotion, problems = emotion_from_msg(payload)
            if problems:
                self._problems += 1
                self._repeated("affect/fused", f"affect/fused: {'; '.join(problems)[:300]}")
            self.synth.set_emotion(emotion, t)
        elif kind == "user":
            self.synth.set_user_speaking(payload, t)
        elif kind == "faces":
            self.selector.update(payload, t)
        elif kind == "point":
            self.selector.point(payload, t)
        else:
            self.synth.set_avatar_speaking(payload, t)

    def check(self) -> tuple[int, str, dict[str, Any]]:
        recent = self._step_us[-120:]
        mean_us = sum(recent) / len(recent) if recent else 0.0
        worst_us = max(recent) if recent else 0.0
        budget_us = 1e6 / self.rate_hz
        level, message = OK, "publishing"
        if not recent:
            level, message = WARN, "no frame yet (clock not running?)"
        elif worst_us > budget_us:
            level, message = ERROR, f"a frame took {worst_us:.0f} us, over the {budget_us:.0f} us period"
        elif mean_us > 0.5 * budget_us:
            level, message = WARN, f"frames take {mean_us:.0f} us on average"
        amps = self.synth.amplitudes()
        dominant = max(amps, key=lambda k: amps[k])
        return level, message, {
            "mode": self.synth.mode, "profile": self.synth.profile, "rate_hz": self.rate_hz,
            "intensity": self.synth.intensity,
            "frames": self.synth.frames, "step_mean_us": f"{mean_us:.1f}", "step_max_us": f"{worst_us:.1f}",
            "estimates": self._received, "estimates_fixed": self._problems, "stale_ignored": self.synth.ignored,
            "dropped_events": self._dropped, "dominant": f"{dominant} {amps[dominant]:.2f}",
            "gaze_state": self.synth.gaze.state, "gaze_target": "none" if self.synth.gaze.target is None
            else "yaw {:.1f} pitch {:.1f} deg".format(*self.synth.gaze.target),
        }


def main(args: list[str] | None = None) -> None:
    run_node(ExpressionSynthesizerNode, args)


if __name__ == "__main__":
    main()
