"""sensor_msgs/Image <-> numpy without cv_bridge (PyPI's cv-bridge 1.13 is an old ROS 1 copy, broken with numpy 2).

Functions take any object with the Image fields (height, width, encoding, step, is_bigendian, data),
so they work on real messages and in tests without rclpy. Every malformed input raises ImageError
with a one-line reason; callers log it and drop the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: encoding -> (dtype, channels)
ENCODINGS: dict[str, tuple[str, int]] = {
    "mono8": ("u1", 1), "8UC1": ("u1", 1), "bgr8": ("u1", 3), "rgb8": ("u1", 3), "8UC3": ("u1", 3),
    "bgra8": ("u1", 4), "rgba8": ("u1", 4), "8UC4": ("u1", 4), "mono16": ("u2", 1), "16UC1": ("u2", 1),
}
MAX_PIXELS = 8192 * 8192


class ImageError(ValueError):
    """An image message that cannot be turned into pixels."""


@dataclass
class RawImage:
    """Plain stand-in for sensor_msgs/Image (same field names)."""

    height: int
    width: int
    encoding: str
    step: int
    data: bytes
    is_bigendian: int = 0


def msg_to_array(msg: Any) -> np.ndarray:
    """Image message -> (H, W) or (H, W, C) array in the message's own channel order (no copy if possible)."""
    enc = str(msg.encoding)
    if enc not in ENCODINGS:
        raise ImageError(f"unsupported encoding {enc!r}")
    dtype_code, channels = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ImageError(f"empty image {w}x{h}")
    if h * w > MAX_PIXELS:
        raise ImageError(f"image too large {w}x{h}")
    dtype = np.dtype(dtype_code).newbyteorder(">" if msg.is_bigendian else "<")
    row = w * channels * dtype.itemsize
    if step < row:
        raise ImageError(f"step {step} < {row} bytes per row for {w}x{h} {enc}")
    buf = msg.data
    if not isinstance(buf, (bytes, bytearray, memoryview, np.ndarray)):
        buf = bytes(buf)  # array.array or list from rclpy
    data = np.frombuffer(buf, dtype=np.uint8)
    if data.size < step * (h - 1) + row:
        raise ImageError(f"data has {data.size} bytes, {step * h} expected for {w}x{h} {enc}")
    rows = np.lib.stride_tricks.as_strided(data, shape=(h, row), strides=(step, 1))
    arr = rows.copy().view(dtype).reshape(h, w, channels)
    arr = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    return arr[:, :, 0] if channels == 1 else arr


def to_bgr(msg: Any) -> np.ndarray:
    """Any supported encoding -> (H, W, 3) uint8 BGR."""
    import cv2

    arr = msg_to_array(msg)
    enc = str(msg.encoding)
    if arr.dtype != np.uint8:
        arr = (arr >> 8).astype(np.uint8)
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if enc in ("rgb8",):
        return arr[:, :, ::-1].copy()
    if enc in ("rgba8",):
        return cv2.cvtColor(arr, cv2.COLOR_RGBA2BGR)
    if enc in ("bgra8", "8UC4"):
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    return arr


def to_gray(msg: Any) -> np.ndarray:
    """Any supported encoding -> (H, W) uint8 gray (same weights as cv2 for colour)."""
    import cv2

    arr = msg_to_array(msg)
    if arr.dtype != np.uint8:
        arr = (arr >> 8).astype(np.uint8)
    if arr.ndim == 2:
        return arr
    enc = str(msg.encoding)
    code = {"rgb8": cv2.COLOR_RGB2GRAY, "rgba8": cv2.COLOR_RGBA2GRAY,
            "bgra8": cv2.COLOR_BGRA2GRAY, "8UC4": cv2.COLOR_BGRA2GRAY}.get(enc, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(arr, code)


_BRIDGE: list = []


def distro_bridge() -> object | None:
    """ROS cv_bridge.CvBridge when a ROS distro provides a working one, else None (checked once).

    PyPI's `cv-bridge` imports but is broken with numpy 2 / OpenCV 5: a round trip of a tiny image
    decides, so a broken bridge is never used.
    """
    if not _BRIDGE:
        bridge = None
        try:
            from cv_bridge import CvBridge

            b = CvBridge()
            probe = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
            if np.array_equal(b.imgmsg_to_cv2(b.cv2_to_imgmsg(probe, "bgr8"), "bgr8"), probe):
                bridge = b
        except Exception:  # any failure means: no usable cv_bridge
            bridge = None
        _BRIDGE.append(bridge)
    return _BRIDGE[0]


def msg_to_bgr_or_gray(msg: Any, gray: bool, use_bridge: bool = True) -> np.ndarray:
    """to_gray / to_bgr through the distro's cv_bridge where it works, else through this module."""
    bridge = distro_bridge() if use_bridge else None
    if bridge is not None and str(msg.encoding) in ("bgr8", "rgb8", "mono8", "bgra8", "rgba8"):
        msg_to_array(msg)  # same validation (size, step, data length) on both paths
        try:
            return np.asarray(bridge.imgmsg_to_cv2(msg, "mono8" if gray else "bgr8"))
        except Exception as e:  # cv_bridge raises its own exception types
            raise ImageError(f"cv_bridge: {e}") from None
    return to_gray(msg) if gray else to_bgr(msg)


def array_to_fields(image: np.ndarray, encoding: str = "bgr8") -> dict[str, Any]:
    """(H, W[, C]) uint8 array -> Image fields (height, width, encoding, step, is_bigendian, data)."""
    if encoding not in ENCODINGS:
        raise ImageError(f"unsupported encoding {encoding!r}")
    dtype_code, channels = ENCODINGS[encoding]
    arr = np.ascontiguousarray(image, dtype=np.dtype(dtype_code))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] != channels:
        raise ImageError(f"array of shape {image.shape} does not fit encoding {encoding}")
    h, w = arr.shape[:2]
    return {"height": h, "width": w, "encoding": encoding, "is_bigendian": 0,
            "step": w * channels * arr.dtype.itemsize, "data": arr.tobytes()}


def fill_msg(msg: Any, image: np.ndarray, encoding: str = "bgr8") -> Any:
    """Fill a sensor_msgs/Image (or RawImage) in place from an array; returns it."""
    for k, v in array_to_fields(image, encoding).items():
        setattr(msg, k, v)
    return msg


def raw(image: np.ndarray, encoding: str = "bgr8") -> RawImage:
    return RawImage(**array_to_fields(image, encoding))
