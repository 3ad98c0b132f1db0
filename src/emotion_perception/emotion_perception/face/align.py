"""In-plane (roll) alignment from the two eyes, found with OpenCV's eye cascade inside the face box.

FER+ faces are roughly upright; a tilted head in a camera frame is rotated upright before cropping.
Only a plausible eye pair is used (both in the upper half, one per side, distance 25-65 % of the face
width, tilt under 30 degrees); otherwise the crop is left unrotated.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .detector import Box


class EyeAligner:
    def __init__(self, cascade: str | None = None, max_tilt_deg: float = 30.0) -> None:
        import cv2

        path = cascade or str(Path(cv2.data.haarcascades) / "haarcascade_eye.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise FileNotFoundError(f"eye cascade not loadable: {path}")
        self.max_tilt_deg = max_tilt_deg

    def roll_deg(self, gray: np.ndarray, box: Box) -> float | None:
        """Head roll in degrees (positive: the right eye in the image is lower), or None if unsure."""
        import cv2

        h, w = gray.shape[:2]
        x0, y0 = max(0, box.x), max(0, box.y)
        x1, y1 = min(w, box.x + box.w), min(h, box.y + box.h // 2 + box.h // 10)
        if x1 - x0 < 24 or y1 - y0 < 12:
            return None
        roi = gray[y0:y1, x0:x1]
        scale = min(1.0, 120.0 / roi.shape[1])
        if scale < 1.0:
            roi = cv2.resize(roi, (round(roi.shape[1] * scale), round(roi.shape[0] * scale)),
                             interpolation=cv2.INTER_AREA)
        fw = box.w * scale
        eyes = self._cascade.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=4,
                                              minSize=(max(6, int(fw * 0.12)),) * 2,
                                              maxSize=(int(fw * 0.4) + 1,) * 2)
        centres = [((x + ew / 2) / scale, (y + eh / 2) / scale) for x, y, ew, eh in np.asarray(eyes).reshape(-1, 4)]
        left = [c for c in centres if c[0] < box.w / 2]
        right = [c for c in centres if c[0] >= box.w / 2]
        if not left or not right:
            return None
        best = None
        for lx, ly in left:
            for rx, ry in right:
                dist = math.hypot(rx - lx, ry - ly)
                if not 0.25 * box.w <= dist <= 0.65 * box.w:
                    continue
                angle = math.degrees(math.atan2(ry - ly, rx - lx))
                if abs(angle) <= self.max_tilt_deg and (best is None or abs(angle) < abs(best)):
                    best = angle
        return best


def rotate_about(gray: np.ndarray, box: Box, angle_deg: float) -> np.ndarray:
    """The frame rotated by `angle_deg` about the face centre (so the face becomes upright)."""
    import cv2

    centre = (box.x + box.w / 2.0, box.y + box.h / 2.0)
    m = cv2.getRotationMatrix2D(centre, angle_deg, 1.0)
    return cv2.warpAffine(gray, m, (gray.shape[1], gray.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
