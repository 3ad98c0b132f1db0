"""Face detection with OpenCV's Haar cascade (ships inside opencv-python 4.x, works offline).

Detection runs on a downscaled gray copy (`detect_width`) for speed; boxes are mapped back to the
full frame. Boxes are (x, y, w, h) in pixels, largest first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def iou(a: Box, b: Box) -> float:
    x1, y1 = max(a.x, b.x), max(a.y, b.y)
    x2, y2 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


class HaarFaceDetector:
    """Frontal-face Haar cascade; `detect(gray)` -> boxes, largest first."""

    def __init__(self, detect_width: int = 256, min_face_frac: float = 0.12, scale_factor: float = 1.15,
                 min_neighbors: int = 6, cascade: str | None = None) -> None:
        import cv2

        path = cascade or str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise FileNotFoundError(f"Haar cascade not loadable: {path}")
        self.detect_width = int(detect_width)
        self.min_face_frac = float(min_face_frac)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)

    def detect(self, gray: np.ndarray) -> list[Box]:
        import cv2

        if gray is None or gray.ndim != 2 or gray.size == 0 or min(gray.shape) < 16:
            return []
        h, w = gray.shape
        scale = min(1.0, self.detect_width / w) if self.detect_width > 0 else 1.0
        small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else gray
        small = cv2.equalizeHist(small)
        min_side = max(20, int(self.min_face_frac * min(small.shape)))
        rects, _, weights = self._cascade.detectMultiScale3(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side), outputRejectLevels=True)
        boxes = []
        for (x, y, bw, bh), wt in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1), strict=False):
            score = float(1.0 / (1.0 + np.exp(-float(wt))))  # cascade stage margin -> (0, 1)
            boxes.append(Box(int(x / scale), int(y / scale), int(bw / scale), int(bh / scale), score))
        return sorted(boxes, key=lambda b: -b.area)


def make_detector(name: str = "haar", **kwargs: object) -> HaarFaceDetector:
    if name != "haar":
        raise ValueError(f"unknown face detector {name!r} (known: haar)")
    return HaarFaceDetector(**kwargs)  # type: ignore[arg-type]
