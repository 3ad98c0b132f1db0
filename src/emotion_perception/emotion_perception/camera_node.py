"""camera: OpenCV capture (device index or video file) -> camera/image_raw (sensor_msgs/Image, bgr8).

A capture thread reads at `fps` and publishes; a device that drops is reopened every 2 s, a file
ends (or restarts with `loop`). Parameters: CameraConfig (face/capture.py); a bad value is one log
line and the default.
"""

from __future__ import annotations

import threading
import time

from avatar_common.node_utils import OK, WARN, Diagnostics, NodeConfig, publish_while_up, run_node
from avatar_common.throttle import Throttle
from rclpy.node import Node
from sensor_msgs.msg import Image

from .face.capture import CameraConfig, FrameSource
from .face.image_io import fill_msg


class CameraNode(Node):
    """Publishes frames of a device or a video file; CameraConfig's fields are its parameters."""

    def __init__(self, **kwargs) -> None:
        super().__init__(kwargs.pop("node_name", "camera"), **kwargs)
        self.params = NodeConfig(self, CameraConfig)
        config = self.params.config
        self.source = config.source
        self.pub = self.create_publisher(Image, "camera/image_raw", 2)
        self.published = 0
        self.state = "starting"
        self._throttle = Throttle()
        self._stop = threading.Event()
        self._source: FrameSource | None = None
        try:
            self._source = FrameSource(config.source, config.width, config.height, config.loop)
        except (ValueError, FileNotFoundError) as e:
            self.get_logger().error(f"camera source {self.source!r}: {e}; no images will be published")
            self.state = "no source"
        self.diag = Diagnostics(self, self._check)
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        if self._source is not None:
            self._thread.start()

    def _set_state(self, state: str) -> None:
        """State changes are logged once (and shown on /diagnostics), not per frame."""
        if state != self.state:
            self.get_logger().info(f"camera {self.source}: {state}")
            self.state = state

    def _check(self) -> tuple[int, str, dict]:
        level = OK if self.state == "streaming" else WARN
        src = self._source
        return level, self.state, {"source": self.source, "published": self.published,
                                   "reconnects": src.reconnects if src else 0}

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            config = self.params.config  # fps and frame_id may change while running
            period = 1.0 / config.fps
            try:
                frame = self._source.read()
            except EOFError:
                self._set_state("end of file")
                self.get_logger().info(f"{self.source}: stopped after {self.published} frames")
                return
            except Exception as e:
                line = self._throttle.message("capture", f"capture failed: {e}", time.monotonic())
                if line:
                    self.get_logger().error(line)
                frame = None
            if frame is None:
                self._set_state("waiting for camera")
                self._stop.wait(0.2)
                continue
            self._set_state("streaming")
            msg = fill_msg(Image(), frame, "bgr8")
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = config.frame_id
            if not publish_while_up(self, self.pub, msg):
                return
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
