"""Face crops normalised like FER+ images: square, some margin, gray, 48x48 uint8.

FER2013/FER+ faces are roughly centred and fill most of the 48x48 frame, a little wider than the
Haar box; `margin` enlarges the detector box accordingly. Parts outside the frame are edge-padded.
"""

from __future__ import annotations

import numpy as np

from .detector import Box

CROP_SIZE = 48


def crop_face(gray: np.ndarray, box: Box, margin: float = 0.15, size: int = CROP_SIZE) -> np.ndarray:
    """Square crop around `box` enlarged by `margin` of its side on each side, resized to size x size."""
    import cv2

    side = max(box.w, box.h) * (1.0 + 2.0 * margin)
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    s = max(1, round(side))
    h, w = gray.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - w, y0 + s - h)
    src = np.pad(gray, pad, mode="edge") if pad else gray
    patch = src[y0 + pad:y0 + pad + s, x0 + pad:x0 + pad + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def to_crop(image: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """An image that already is a face crop (any size, gray or BGR) -> size x size uint8 gray."""
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if image.shape != (size, size):
        interp = cv2.INTER_AREA if min(image.shape) > size else cv2.INTER_LINEAR
        image = cv2.resize(image, (size, size), interpolation=interp)
    return image.astype(np.uint8, copy=False)
