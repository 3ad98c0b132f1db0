"""Face detection with MTCNN (facenet-pytorch ships the P/R/O-net weights in its wheel; works offline).

Unlike the frontal Haar cascade, MTCNN finds faces turned to about 45 degrees and partly covered
ones, and gives five landmarks (eyes, nose, mouth corners) for alignment. Its score is reduced for
faces that are small or blurred, so that such faces get a low confidence downstream instead of a
confident label: score = MTCNN probability x size factor x sharpness factor.
"""

from __future__ import annotations

import logging

import numpy as np
from facenet_pytorch import MTCNN  # at import time, so that make_detector can fall back when it is missing

from .detector import Box

log = logging.getLogger(__name__)

FULL_SIZE_PX = 48  # face width (source pixels) from which size no longer lowers the score (the classifier's input)
SHARP_VAR = 60.0  # variance of the Laplacian of the face at which the sharpness factor is 0.5


def quality(gray: np.ndarray, box: Box) -> float:
    """Size x sharpness factor in (0, 1] of a face box in the full-resolution gray frame."""
    import cv2

    size = min(1.0, box.w / FULL_SIZE_PX)
    crop = gray[max(0, box.y):box.y + box.h, max(0, box.x):box.x + box.w]
    if crop.size < 16:
        return 0.0
    crop = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA)
    var = float(cv2.Laplacian(crop, cv2.CV_32F).var())
    return float(size * var / (var + SHARP_VAR))


class MtcnnFaceDetector:
    """`detect(frame)` (gray or BGR) -> boxes with five landmarks, largest first."""

    def __init__(self, detect_width: int = 320, min_face_frac: float = 0.12, min_prob: float = 0.9,
                 threads: int = 1) -> None:
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        self._mtcnn = MTCNN(keep_all=True, device="cpu", post_process=False, select_largest=False)
        self.detect_width = int(detect_width)
        self.min_face_frac = float(min_face_frac)
        self.min_prob = float(min_prob)

    def detect(self, frame: np.ndarray) -> list[Box]:
        import cv2

        if frame is None or frame.ndim not in (2, 3) or frame.size == 0 or min(frame.shape[:2]) < 16:
            return []
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB) if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        h, w = gray.shape
        scale = min(1.0, self.detect_width / w) if self.detect_width > 0 else 1.0
        small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else rgb
        self._mtcnn.min_face_size = max(12, int(self.min_face_frac * min(small.shape[:2])))
        boxes, probs, points = self._mtcnn.detect(small, landmarks=True)
        if boxes is None:
            return []
        # facenet-pytorch returns numpy object arrays in some versions: make them plain floats
        boxes = np.asarray([np.asarray(b, dtype=np.float64) for b in boxes]).reshape(-1, 4) / scale
        probs = np.asarray([float(p) for p in probs])
        points = np.asarray([np.asarray(p, dtype=np.float64) for p in points]).reshape(-1, 5, 2) / scale
        out = []
        for (x0, y0, x1, y1), p, pts in zip(boxes, probs, points, strict=True):
            if p < self.min_prob:
                continue
            box = Box(int(max(0, x0)), int(max(0, y0)), int(min(w, x1) - max(0, x0)), int(min(h, y1) - max(0, y0)))
            if box.w < 4 or box.h < 4:
                continue
            out.append(Box(box.x, box.y, box.w, box.h, float(p) * quality(gray, box),
                           tuple((float(x), float(y)) for x, y in pts)))
        return sorted(out, key=lambda b: -b.area)
