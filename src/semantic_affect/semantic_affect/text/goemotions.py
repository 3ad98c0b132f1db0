"""GoEmotions-Ekman reader and the explicit mapping of its labels onto the canonical labels.

The data set (../shared/datasets/goemotions_ekman) is never shipped; only read for training,
evaluation and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# labels.txt order of the data set (ids 0..6).
GOEMOTIONS_EKMAN: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")

# Explicit mapping to avatar_common.emotion.CANONICAL_LABELS. GoEmotions has no contempt label, so the
# offline model never estimates contempt.
TO_CANONICAL: dict[str, str] = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "happiness",
    "neutral": "neutral",
    "sadness": "sadness",
    "surprise": "surprise",
}

# Class order of the offline model's outputs (canonical names, data set id order).
MODEL_LABELS: tuple[str, ...] = tuple(TO_CANONICAL[k] for k in GOEMOTIONS_EKMAN)

CONVERSATIONAL_DEV = Path(__file__).resolve().parents[1] / "data" / "conversational_dev.tsv"

DEFAULT_DIR = Path(__file__).resolve().parents[4] / ".." / "shared" / "datasets" / "goemotions_ekman"


@dataclass(frozen=True)
class Split:
    """One split: texts and a multi-hot target matrix (n, 7) in MODEL_LABELS order."""

    name: str
    texts: list[str]
    targets: np.ndarray

    @property
    def single(self) -> np.ndarray:
        """Boolean mask of rows with exactly one label."""
        return self.targets.sum(axis=1) == 1


def find_dataset(path: str | Path | None = None) -> Path:
    """The data set folder: `path`, else ../shared/datasets/goemotions_ekman from the repo root."""
    candidates = [Path(path)] if path else [DEFAULT_DIR.resolve(), Path.cwd().parent / "shared" / "datasets" /
                                              "goemotions_ekman", Path.cwd() / ".." / "shared" / "datasets" /
                                              "goemotions_ekman"]
    for c in candidates:
        if (c / "train.tsv").exists():
            return c.resolve()
    raise FileNotFoundError(f"GoEmotions-Ekman not found (looked in {[str(c) for c in candidates]}); "
                            "see ../shared/datasets/README.md")


def read_split(folder: str | Path, name: str) -> Split:
    """Read `<name>.tsv` (text, comma-separated label ids, comment id)."""
    texts: list[str] = []
    rows: list[list[int]] = []
    with open(Path(folder) / f"{name}.tsv", encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            texts.append(parts[0])
            rows.append([int(x) for x in parts[1].split(",") if x.strip()])
    targets = np.zeros((len(texts), len(GOEMOTIONS_EKMAN)), dtype=np.float32)
    for i, ids in enumerate(rows):
        targets[i, ids] = 1.0
    return Split(name, texts, targets)


def read_conversational(path: str | Path = CONVERSATIONAL_DEV, name: str = "conversational-dev") -> Split:
    """A hand-written `label<TAB>text` set (canonical label names, '#' comment header); one label per row.
    Raises ValueError naming the line of an unknown label or a malformed row."""
    texts: list[str] = []
    ids: list[int] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or parts[0] not in MODEL_LABELS or not parts[1].strip():
            raise ValueError(f"{path}:{n}: expected '<label>\\t<text>' with a label of {list(MODEL_LABELS)}")
        ids.append(MODEL_LABELS.index(parts[0]))
        texts.append(parts[1].strip())
    return Split(name, texts, np.eye(len(MODEL_LABELS), dtype=np.float32)[ids])
