"""Camera / video-file capture with reconnect and end-of-file handling (no rclpy)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from avatar_common.config import param

log = logging.getLogger(__name__)


@dataclass
class CameraConfig:
    """Options of the camera node (its parameters); source, size and loop are start-only."""

    source: str = param("0", "device index ('0') or video file path", start_only=True)
    fps: float = param(15.0, "frames per second to publish (file playback is paced to it)", low=0.1, high=240.0)
    width: int = param(640, "frame width in pixels (0 = native)", low=0, high=8192, start_only=True)
    height: int = param(480, "frame height in pixels (0 = native)", low=0, high=8192, start_only=True)
    loop: bool = param(False, "restart a video file at its end", start_only=True)
    frame_id: str = param("camera", "frame_id of the published images")


def parse_source(source: str) -> int | str:
    """'0' -> device 0, anything else -> a file path or URL (as given)."""
    s = str(source).strip()
    if s.isdigit():
        return int(s)
    if not s:
        raise ValueError("empty camera source")
    return s


class FrameSource:
    """Reads frames; `read()` returns a BGR frame, None for 'no frame now', raises EOFError at the end.

    A device that fails is reopened at most every `reconnect_s`; a file restarts when `loop`.
    """

    def __init__(self, source: str, width: int = 0, height: int = 0, loop: bool = False,
                 reconnect_s: float = 2.0) -> None:
        self.source = parse_source(source)
        self.is_file = isinstance(self.source, str) and Path(self.source).exists()
        if isinstance(self.source, str) and not self.is_file and "://" not in self.source:
            raise FileNotFoundError(f"video file not found: {self.source}")
        self.width, self.height, self.loop, self.reconnect_s = int(width), int(height), bool(loop), reconnect_s
        self._cap = None
        self._next_open = 0.0
        self.reconnects = 0
        self.frames = 0

    def _open(self) -> bool:
        import cv2

        self._next_open = time.monotonic() + self.reconnect_s
        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            return False
        if not self.is_file and self.width > 0 and self.height > 0:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._cap = cap
        return True

    def read(self) -> np.ndarray | None:
        import cv2

        if self._cap is None and (time.monotonic() < self._next_open or not self._open()):
            return None
        ok, frame = self._cap.read()
        if not ok or frame is None or frame.size == 0:
            if self.is_file:
                if self.loop and self.frames > 0:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, frame = self._cap.read()
                if not ok or frame is None or frame.size == 0:
                    self.close()
                    raise EOFError(f"end of {self.source}")
            else:
                log.warning("camera %s gave no frame: reconnecting", self.source)
                self.close()
                self.reconnects += 1
                return None
        self.frames += 1
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if self.width > 0 and self.height > 0 and frame.shape[:2] != (self.height, self.width):
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
