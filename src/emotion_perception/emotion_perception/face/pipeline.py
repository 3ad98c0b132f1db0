"""Frame -> faces -> expression probabilities: the logic shared by face_emotion, fer-predict and bench."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from avatar_common.emotion import CANONICAL_LABELS, valence_arousal

from .align import EyeAligner, rotate_about
from .classifier import Classifier
from .crop import crop_face
from .detector import Box, HaarFaceDetector, detect_near
from .landmark_align import LandmarkTemplate, roll_deg
from .tracker import IouTracker


@dataclass
class FaceResult:
    id: str
    box: Box
    probs: np.ndarray
    roll_deg: float = 0.0

    def weights(self) -> dict[str, float]:
        return {lab: float(p) for lab, p in zip(CANONICAL_LABELS, self.probs, strict=False)}

    @property
    def top(self) -> tuple[str, float]:
        i = int(np.argmax(self.probs))
        return CANONICAL_LABELS[i], float(self.probs[i])

    def valence_arousal(self) -> tuple[float, float]:
        return valence_arousal(self.weights())

    def confidence(self) -> float:
        """Top probability scaled by the detector score: trust in this estimate, in [0, 1]."""
        return float(np.clip(self.top[1] * (0.5 + 0.5 * self.box.score), 0.0, 1.0))


@dataclass
class FrameResult:
    faces: list[FaceResult]
    timings_ms: dict[str, float] = field(default_factory=dict)


class FacePipeline:
    """Detect (all or largest), track, crop and classify faces in a gray frame.

    Alignment: a face with landmarks (MTCNN) is warped onto the FER+ landmark template; one without
    (Haar) is rotated upright by its eyes (cascade) and cropped from the box with `margin`."""

    def __init__(self, classifier: Classifier, detector: HaarFaceDetector | None = None,
                 tracker: IouTracker | None = None, all_faces: bool = False, margin: float = 0.15,
                 max_faces: int = 4, full_every: int = 10, align: bool = True) -> None:
        self.classifier = classifier
        self.detector = detector or HaarFaceDetector()
        self.tracker = tracker if tracker is not None else IouTracker()
        self.all_faces = all_faces
        self.margin = margin
        self.max_faces = max(1, max_faces)
        self.full_every = max(1, int(full_every))
        self.set_align(align)
        self._since_full = 0
        self._prev: Box | None = None

    def set_align(self, align: bool) -> None:
        self.aligner = EyeAligner() if align else None
        self.template = LandmarkTemplate.load() if align else None

    def crop(self, gray: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
        """The classifier's input for `box` and the head roll it was corrected by (degrees)."""
        if self.template is not None and box.landmarks is not None:
            crop = self.template.crop(gray, np.asarray(box.landmarks))
            if crop is not None:
                return crop, roll_deg(np.asarray(box.landmarks))
        roll = self.aligner.roll_deg(gray, box) if self.aligner is not None else None
        roll = roll if roll is not None and abs(roll) >= 3.0 else 0.0
        return crop_face(rotate_about(gray, box, roll) if roll else gray, box, self.margin), roll

    def process(self, gray: np.ndarray) -> FrameResult:
        t0 = time.perf_counter()
        boxes: list[Box] = []
        # While one face is tracked, search only near it, with a full search every `full_every` frames.
        if (self._prev is not None and not self.all_faces and self.tracker is not None
                and self._since_full < self.full_every):
            boxes = detect_near(self.detector, gray, self._prev)
            self._since_full += 1
        if not boxes:
            boxes = self.detector.detect(gray)[: (self.max_faces if self.all_faces else 1)]
            self._since_full = 0
        self._prev = boxes[0] if boxes else None
        t1 = time.perf_counter()
        tracked = self.tracker.update(boxes) if self.tracker is not None else [("", b) for b in boxes]
        faces: list[FaceResult] = []
        if tracked:
            crops, rolls = zip(*(self.crop(gray, b) for _, b in tracked), strict=True)
            probs = self.classifier.predict(np.stack(crops))
            faces = [FaceResult(fid, b, p, r) for (fid, b), p, r in zip(tracked, probs, rolls, strict=True)]
        t2 = time.perf_counter()
        return FrameResult(faces, {"detect_ms": (t1 - t0) * 1e3, "classify_ms": (t2 - t1) * 1e3,
                                   "total_ms": (t2 - t0) * 1e3})
