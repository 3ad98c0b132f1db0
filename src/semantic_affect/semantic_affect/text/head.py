"""The trained classification head in plain numpy: an ensemble of one-hidden-layer MLPs with sigmoid
outputs, stored as .npz (arrays only, no pickle) plus a .json with labels, thresholds and metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from semantic_affect.text.goemotions import MODEL_LABELS

MODEL_NAME = "minilm-mlp-goemotions-ekman-v1"


class HeadMeta(BaseModel):
    """Schema of <model>.json (validated on load)."""

    model_config = ConfigDict(extra="allow")
    schema_version: int = Field(ge=1, le=1)
    name: str
    encoder: str
    labels: list[str]
    thresholds: list[float]
    members: int = Field(ge=1)
    activation: str = "gelu_tanh"


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


@dataclass
class Head:
    """Averages the sigmoid outputs of `members` MLPs: probs = mean_k sigmoid(gelu(xW1+b1)W2+b2)."""

    meta: HeadMeta
    w1: np.ndarray  # (k, d, h)
    b1: np.ndarray  # (k, h)
    w2: np.ndarray  # (k, h, c)
    b2: np.ndarray  # (k, c)

    @property
    def thresholds(self) -> np.ndarray:
        return np.asarray(self.meta.thresholds, dtype=np.float32)

    def probs(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        out = np.zeros((x.shape[0], self.w2.shape[2]), dtype=np.float32)
        for k in range(self.w1.shape[0]):
            h = gelu_tanh(x @ self.w1[k] + self.b1[k])
            out += 1.0 / (1.0 + np.exp(-(h @ self.w2[k] + self.b2[k])))
        return out / self.w1.shape[0]

    def save(self, stem: str | Path) -> None:
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(stem.with_suffix(".npz"), w1=self.w1.astype(np.float16), b1=self.b1.astype(np.float32),
                            w2=self.w2.astype(np.float16), b2=self.b2.astype(np.float32))
        stem.with_suffix(".json").write_text(json.dumps(self.meta.model_dump(), indent=1) + "\n")


def default_stem() -> Path:
    return Path(str(files("semantic_affect") / "models" / MODEL_NAME))


def load_head(stem: str | Path | None = None) -> Head:
    """Load and check a head; raises ValueError/FileNotFoundError with a clear reason."""
    stem = Path(stem) if stem else default_stem()
    meta = HeadMeta.model_validate(json.loads(stem.with_suffix(".json").read_text()))
    if tuple(meta.labels) != MODEL_LABELS:
        raise ValueError(f"{stem}.json labels {meta.labels} != {list(MODEL_LABELS)}")
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as z:
        arrays: dict[str, Any] = {k: z[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2")}
    k, _, h = arrays["w1"].shape
    if arrays["w2"].shape[1:] != (h, len(MODEL_LABELS)) or arrays["w1"].shape[0] != meta.members \
            or len(meta.thresholds) != len(MODEL_LABELS) or k != arrays["w2"].shape[0]:
        raise ValueError(f"{stem}.npz shapes do not match its metadata")
    return Head(meta, **arrays)
