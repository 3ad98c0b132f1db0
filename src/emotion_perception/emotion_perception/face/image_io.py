"""sensor_msgs/Image <-> numpy without cv_bridge (PyPI's cv-bridge is broken; see PLATFORM.md).

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
