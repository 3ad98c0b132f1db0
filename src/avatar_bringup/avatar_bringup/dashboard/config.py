"""Options of the dashboard node (and of anything else that runs the server)."""

from __future__ import annotations

from dataclasses import dataclass

from avatar_common.config import param

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class DashboardConfig:
    """Every field is a node parameter of the same name; start-only ones are read-only while running."""

    host: str = param("127.0.0.1", "interface to bind; anything but loopback exposes the page to the network "
                      "(logged as an explicit choice)", start_only=True)
    port: int = param(8765, "TCP port of the page (0 = any free port, logged)", low=0, high=65535, start_only=True)
    au_rate_hz: float = param(60.0, "most AU frames per second sent to each page (newer ones replace unsent ones)",
                              low=1.0, high=120.0)
    ui_rate_hz: float = param(10.0, "most updates per second of transcript, emotions, detections, latency",
                              low=0.5, high=60.0)
    image_rate_hz: float = param(4.0, "most camera images per second sent to the page (0 = none)",
                                 low=0.0, high=30.0)
    image_width: int = param(320, "camera images are downscaled to this width for the page", low=64, high=1920)
    jpeg_quality: int = param(70, "JPEG quality of the camera image on the page", low=10, high=95)
    transcript_lines: int = param(12, "utterances kept on the page", low=1, high=200, start_only=True)
    preview: bool = param(False, "also publish the rendered face as sensor_msgs/Image on face/preview",
                          start_only=True)
    preview_rate_hz: float = param(10.0, "face/preview frames per second", low=0.5, high=60.0)
    preview_size: int = param(256, "face/preview width and height in pixels", low=64, high=1024, start_only=True)

    def problems(self) -> list[str]:
        return [] if self.host.strip() else ["host: empty; use 127.0.0.1 (this machine only) or an address"]


def url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"
