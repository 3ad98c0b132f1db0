"""Face detection with OpenCV's Haar cascade (ships inside opencv-python 4.x, works offline), and the
choice between it and MTCNN (mtcnn_detector.py: turned and partly covered faces, landmarks).

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
    landmarks: tuple[tuple[float, float], ...] | None = None  # eyes, nose, mouth corners (MTCNN), frame pixels

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

    def __init__(self, detect_width: int = 320, min_face_frac: float = 0.12, scale_factor: float = 1.15,
                 min_neighbors: int = 5, cascade: str | None = None) -> None:
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


def expand(box: Box, factor: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Region (x0, y0, x1, y1) around `box`, `factor` times its size, clipped to the frame."""
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    half_w, half_h = box.w * factor / 2, box.h * factor / 2
    return (max(0, int(cx - half_w)), max(0, int(cy - half_h)),
            min(width, int(cx + half_w)), min(height, int(cy + half_h)))


def detect_near(detector: HaarFaceDetector, gray: np.ndarray, prev: Box, face_px: int = 40) -> list[Box]:
    """Look for a face only around `prev` (2.2x its size), rescaled so the face is about `face_px` wide.

    Much cheaper than a full-frame search; used between full searches while a face is tracked.
    """
    import cv2

    if gray is None or gray.ndim != 2 or gray.size == 0 or prev.w <= 0:
        return []
    h, w = gray.shape
    x0, y0, x1, y1 = expand(prev, 2.2, w, h)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return []
    if not isinstance(detector, HaarFaceDetector):  # any other detector: its own search on the region
        found = [Box(b.x + x0, b.y + y0, b.w, b.h, b.score,
                     tuple((px + x0, py + y0) for px, py in b.landmarks) if b.landmarks else None)
                 for b in detector.detect(gray[y0:y1, x0:x1])]
        return sorted(found, key=lambda b: -iou(b, prev))[:1]
    scale = min(1.0, face_px / prev.w)
    roi = gray[y0:y1, x0:x1]
    if scale < 1.0:
        roi = cv2.resize(roi, (max(1, round(roi.shape[1] * scale)), max(1, round(roi.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    roi = cv2.equalizeHist(roi)
    fw = prev.w * scale
    rects, _, weights = detector._cascade.detectMultiScale3(
        roi, scaleFactor=1.15, minNeighbors=detector.min_neighbors,
        minSize=(max(24, int(fw * 0.6)), max(24, int(fw * 0.6))), maxSize=(int(fw * 1.6) + 1, int(fw * 1.6) + 1),
        outputRejectLevels=True)
    boxes = []
    for (x, y, bw, bh), wt in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1), strict=False):
        score = float(1.0 / (1.0 + np.exp(-float(wt))))
        boxes.append(Box(x0 + int(x / scale), y0 + int(y / scale), int(bw / scale), int(bh / scale), score))
    return sorted(boxes, key=lambda b: -iou(b, prev))[:1]


DETECTORS = ("haar", "mtcnn")


def make_detector(name: str = "haar", **kwargs: object) -> HaarFaceDetector:
    """A detector by name (MTCNN falls back to Haar, with a warning, when facenet-pytorch cannot be
    imported); keyword arguments the chosen one does not take are ignored (the Haar-only tunables, or
    MTCNN's min_prob)."""
    import inspect

    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r} (known: {', '.join(DETECTORS)})")
    cls: type = HaarFaceDetector
    if name == "mtcnn":
        try:
            from .mtcnn_detector import MtcnnFaceDetector

            cls = MtcnnFaceDetector
        except ImportError as exc:  # facenet-pytorch is a --no-deps install: the cascade keeps faces coming
            log.warning("MTCNN face detector unavailable (%s): using the Haar cascade", exc)
    known = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in kwargs.items() if k in known})
