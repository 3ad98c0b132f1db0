"""Detection, tracking, crops and the shipped model on real photos (scikit-image's astronaut)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from avatar_common.emotion import CANONICAL_LABELS
from emotion_perception.face.classifier import make_classifier, shipped_model_path
from emotion_perception.face.crop import crop_face, to_crop
from emotion_perception.face.detector import Box, HaarFaceDetector, iou
from emotion_perception.face.pipeline import FacePipeline
from emotion_perception.face.tracker import IouTracker
from skimage import data

# The astronaut's face in skimage.data.astronaut() (512x512), measured by hand: x, y, w, h.
ASTRONAUT_FACE = Box(175, 65, 95, 105)


@pytest.fixture(scope="module")
def astronaut_gray() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="module")
def detector() -> HaarFaceDetector:
    return HaarFaceDetector()


def test_astronaut_face_found(astronaut_gray: np.ndarray, detector: HaarFaceDetector) -> None:
    boxes = detector.detect(astronaut_gray)
    assert boxes, "no face found on the astronaut photo"
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.5, boxes


def test_no_face_on_blank_noise_and_tiny_frames(detector: HaarFaceDetector) -> None:
    rng = np.random.default_rng(0)
    assert detector.detect(np.full((480, 640), 127, np.uint8)) == []
    assert detector.detect(rng.integers(0, 256, (480, 640), dtype=np.uint8)) == []
    assert detector.detect(np.zeros((0, 0), np.uint8)) == []
    assert detector.detect(np.zeros((5, 3), np.uint8)) == []


def test_huge_frame_is_downscaled_for_detection(astronaut_gray: np.ndarray, detector: HaarFaceDetector) -> None:
    big = cv2.resize(astronaut_gray, (4096, 4096), interpolation=cv2.INTER_LINEAR)
    boxes = detector.detect(big)
    assert boxes and iou(Box(*(v // 8 for v in boxes[0].as_list())), ASTRONAUT_FACE) > 0.4


def test_eye_alignment_measures_head_roll(astronaut_gray: np.ndarray, detector: HaarFaceDetector) -> None:
    from emotion_perception.face.align import EyeAligner

    aligner = EyeAligner()
    rolls = {}
    for angle in (0, 12, -12):  # rotate the photo counter-clockwise by `angle` about the face
        m = cv2.getRotationMatrix2D((222, 115), angle, 1.0)
        img = cv2.warpAffine(astronaut_gray, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
        rolls[angle] = aligner.roll_deg(img, detector.detect(img)[0])
    assert None not in rolls.values(), rolls
    assert abs((rolls[0] - rolls[12]) - 12) < 5 and abs((rolls[-12] - rolls[0]) - 12) < 5, rolls
    assert aligner.roll_deg(np.full((200, 200), 90, np.uint8), Box(50, 50, 100, 100)) is None


def test_tracker_keeps_ids_while_faces_move() -> None:
    tr = IouTracker(max_missed=2)
    a, b = Box(10, 10, 50, 50), Box(200, 40, 60, 60)
    first = dict((bx.x, fid) for fid, bx in tr.update([a, b]))
    ids = {}
    for dx in range(1, 6):
        got = tr.update([Box(b.x + 3 * dx, b.y, b.w, b.h), Box(a.x + 2 * dx, a.y + dx, a.w, a.h)])
        ids.setdefault("a", set()).add(got[1][0])
        ids.setdefault("b", set()).add(got[0][0])
    assert ids["a"] == {first[10]} and ids["b"] == {first[200]} and first[10] != first[200]
    for _ in range(3):
        tr.update([])
    (new_id, _), = tr.update([a])
    assert new_id not in (first[10], first[200])  # expired tracks do not come back


def test_crops_handle_borders_and_any_input() -> None:
    gray = np.arange(100 * 120, dtype=np.uint32).reshape(100, 120).astype(np.uint8)
    for box in (Box(0, 0, 30, 30), Box(100, 80, 40, 40), Box(50, 40, 10, 10), Box(-10, -10, 500, 500)):
        c = crop_face(gray, box)
        assert c.shape == (48, 48) and c.dtype == np.uint8
    assert to_crop(np.zeros((10, 12, 3), np.uint8)).shape == (48, 48)
    assert to_crop(np.zeros((300, 300, 4), np.uint8)).shape == (48, 48)


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_astronaut_is_happy(astronaut_gray: np.ndarray, backend: str) -> None:
    if not shipped_model_path().exists():
        pytest.fail(f"shipped model missing: {shipped_model_path()}")
    pipe = FacePipeline(make_classifier(backend, threads=1))
    faces = pipe.process(astronaut_gray).faces
    assert len(faces) == 1
    probs = faces[0].probs
    assert probs.shape == (8,) and abs(float(probs.sum()) - 1) < 1e-4
    assert faces[0].top[0] == "happiness", dict(zip(CANONICAL_LABELS, probs.round(3), strict=True))
    v, _a = faces[0].valence_arousal()
    assert v > 0


def test_no_face_frame_gives_no_emotion() -> None:
    pipe = FacePipeline(make_classifier("onnx", threads=1))
    assert pipe.process(np.full((480, 640), 90, np.uint8)).faces == []


def test_backends_agree_on_crops() -> None:
    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, (4, 48, 48), dtype=np.uint8)
    p1 = make_classifier("onnx").predict(crops)
    p2 = make_classifier("torch").predict(crops)
    assert np.allclose(p1, p2, atol=1e-4)
