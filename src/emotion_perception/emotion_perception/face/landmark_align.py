"""Crops aligned by five facial landmarks (MTCNN's) onto the framing of the classifier's training faces.

Why: the ResNet18 was trained on FER+ images, which have their own framing (face centred, filling
most of the 48x48). A detector box with a margin reproduces that framing only roughly, and differently
per detector; a similarity transform that maps the landmarks onto where those landmarks sit on average
in FER+ training images (the template, data/fer_landmark_template.yaml, measured by
`fer-align-template`) gives crops framed like the training data, upright, whatever the detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import yaml

from .crop import CROP_SIZE

TEMPLATE_FILE = Path(str(files("emotion_perception") / "data" / "fer_landmark_template.yaml"))
POINTS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # MTCNN's order, image left/right


@dataclass(frozen=True)
class LandmarkTemplate:
    points: np.ndarray  # (5, 2) in pixels of a `size` x `size` crop
    size: int

    @classmethod
    def load(cls, path: str | Path = TEMPLATE_FILE) -> LandmarkTemplate:
        """Read and check the template; raises ValueError naming the file when it is malformed."""
        try:
            doc = yaml.safe_load(Path(path).read_text())
            size = int(doc["crop_size"])
            pts = np.array([[float(v) for v in doc["points"][name]] for name in POINTS], dtype=np.float64)
        except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: malformed landmark template ({exc})") from exc
        if doc.get("schema_version") != 1 or pts.shape != (5, 2) or not np.isfinite(pts).all() \
                or (pts < 0).any() or (pts > size).any():
            raise ValueError(f"{path}: landmark template needs schema_version 1 and 5 points inside the crop")
        return cls(pts, size)

    def transform(self, landmarks: np.ndarray) -> np.ndarray | None:
        """2x3 similarity (rotation, uniform scale, shift) from frame landmarks to the template, scaled to
        CROP_SIZE; None when the points are not finite or degenerate."""
        import cv2

        src = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
        if src.shape != (5, 2) or not np.isfinite(src).all() or np.ptp(src[:, 0]) < 2.0:
            return None
        dst = self.points * (CROP_SIZE / self.size)
        m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
        return m if m is not None and np.isfinite(m).all() else None

    def crop(self, gray: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        """CROP_SIZE x CROP_SIZE uint8 face aligned to the template, or None (then use the box crop)."""
        import cv2

        m = self.transform(landmarks)
        if m is None:
            return None
        # warpAffine has no area filter: warp to a k-times larger crop, then shrink with INTER_AREA (no aliasing)
        k = int(np.clip(np.ceil(1.0 / max(np.sqrt(abs(np.linalg.det(m[:, :2]))), 1e-6)), 1, 4))
        big = cv2.warpAffine(gray, m * np.array([[k], [k]]), (CROP_SIZE * k, CROP_SIZE * k), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        return big if k == 1 else cv2.resize(big, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)


def roll_deg(landmarks: np.ndarray) -> float:
    """Head roll from the eye line (positive: the eye on the image's right is lower)."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    dx, dy = pts[1] - pts[0]
    return float(np.degrees(np.arctan2(dy, dx)))
