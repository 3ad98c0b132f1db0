"""camera: OpenCV capture (device index or video file) -> camera/image_raw (sensor_msgs/Image, bgr8).

A capture thread reads at `fps` and publishes; a device that drops is reopened every 2 s, a file
ends (or restarts with `loop`). Bad parameters are one log line and a safe default.
"""

from __future__ import annotations

import threading
import time

from avatar_common.node_utils import OK, WARN, Diagnostics, declare, run_node
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image

from .face.capture import FrameSource
from .face.image_io import fill_msg


class CameraNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__(kwargs.pop("node_name", "camera"), **kwargs)
        # dynamic typing: launch files and YAML often give a device index as an integer
        self.declare_parameter("source", "0", ParameterDescriptor(
            description="device index ('0') or video file path", dynamic_typing=True))
        self.source = str(self.get_parameter("source").value)
        fps = declare(self, "fps", 15.0, "frames per second to publish (file playback is paced to it)")
        self.width = int(declare(self, "width", 640, "frame width in pixels (0 = native)"))
        self.height = int(declare(self, "height", 480, "frame height in pixels (0 = native)"))
        self.loop = bool(declare(self, "loop", False, "restart a video file at its end"))
        self.frame_id = str(declare(self, "frame_id", "camera", "frame_id of the published images"))
        try:
            self.fps = float(fps)
            if not 0.1 <= self.fps <= 240:
                raise ValueError
        except (TypeError, ValueError):
            self.get_logger().error(f"fps {fps!r} invalid: using 15")
            self.fps = 15.0
        if self.width < 0 or self.height < 0:
            self.get_logger().error(f"size {self.width}x{self.height} invalid: native size")
            self.width = self.height = 0
        self.pub = self.create_publisher(Image, "camera/image_raw", 2)
        self.published = 0
        self.state = "starting"
        self._stop = threading.Event()
        self._source: FrameSource | None = None
        try:
            self._source = FrameSource(self.source, self.width, self.height, self.loop)
        except (ValueError, FileNotFoundError) as e:
            self.get_logger().error(f"camera source {self.source!r}: {e}; no images will be published")
            self.state = "no source"
        self.diag = Diagnostics(self, self._check)
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        if self._source is not None:
            self._thread.start()

    def _check(self) -> tuple[int, str, dict]:
        level = OK if self.state == "streaming" else WARN
        src = self._source
        return level, self.state, {"source": self.source, "published": self.published,
                                   "reconnects": src.reconnects if src else 0}

    def _run(self) -> None:
        period = 1.0 / self.fps
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                frame = self._source.read()
            except EOFError:
                self.state = "end of file"
                self.get_logger().info(f"end of {self.source}: stopped after {self.published} frames")
                return
            except Exception as e:
                self.get_logger().error(f"capture failed: {e}")
                frame = None
            if frame is None:
                self.state = "waiting for camera"
                self._stop.wait(0.2)
                continue
            self.state = "streaming"
            msg = fill_msg(Image(), frame, "bgr8")
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = self.frame_id
            self.pub.publish(msg)
            self.published += 1
            next_t = max(next_t + period, time.monotonic() - period)
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def destroy_node(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        if self._source is not None:
            self._source.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(CameraNode, args)


if __name__ == "__main__":
    main()
