"""The shipped ONNX model on FER+ val: its accuracy matches what its metadata (and model card) claim."""

from __future__ import annotations

import json

import numpy as np
import onnx
from emotion_perception.face.classifier import make_classifier, shipped_model_path
from emotion_perception.fer.data import load_split


def _dataset(name: str):
    try:
        from conftest import dataset
    except ImportError:  # pragma: no cover - conftest not importable under this import mode
        import importlib.util
        from pathlib import Path

        spec = importlib.util.spec_from_file_location("_conftest", Path(__file__).parents[1] / "conftest.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        dataset = mod.dataset
    return dataset(name)


def test_shipped_model_metadata_and_size() -> None:
    path = shipped_model_path()
    assert path.stat().st_size < 50e6
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["labels"])[:2] == ["neutral", "happiness"]
    assert 0 < float(meta["val_accuracy"]) <= 1


def test_shipped_model_accuracy_on_ferplus_val(tmp_path) -> None:
    root = _dataset("ferplus")
    val = load_split(root, "val", cache_dir=None)
    idx = np.random.default_rng(0).permutation(len(val))[:1200]
    probs = make_classifier("onnx", threads=2).predict(val.images[idx])
    acc = float(np.mean(probs.argmax(1) == val.labels[idx]))
    meta = {p.key: p.value for p in onnx.load(str(shipped_model_path())).metadata_props}
    claimed = float(meta["val_accuracy"])
    assert abs(acc - claimed) < 0.04, (acc, claimed)  # a 1200-image sample of the claimed full-val number
