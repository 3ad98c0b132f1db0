"""FER+ loading: the ImageFolder PNGs read once into a cached uint8 array, labels in canonical order.

FER+ folders and vote columns use the FER+ class order; everything in this project uses
`avatar_common.emotion.CANONICAL_LABELS`, so indices are mapped by name here and nowhere else.
The cache lives outside the repository (default `runs/cache`) because the images are research-only.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from avatar_common.emotion import CANONICAL_LABELS

log = logging.getLogger(__name__)

FERPLUS_ORDER: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
)
#: column j of a FER+ vote row -> canonical index
FERPLUS_TO_CANONICAL = np.array([CANONICAL_LABELS.index(c) for c in FERPLUS_ORDER], dtype=np.int64)


@dataclass
class FerSplit:
    """One split in memory: images (N, 48, 48) uint8, hard labels (N,), soft labels (N, 8)."""

    images: np.ndarray
    labels: np.ndarray
    soft: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: np.ndarray) -> FerSplit:
        return FerSplit(self.images[index], self.labels[index], self.soft[index],
                        [self.names[i] for i in index])


def _read_votes(path: Path) -> dict[str, np.ndarray]:
    """image name -> vote counts over the 8 emotions in canonical order (unknown/NF dropped)."""
    votes: dict[str, np.ndarray] = {}
    if not path.exists():
        return votes
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            v = np.zeros(len(CANONICAL_LABELS), dtype=np.float32)
            for name in FERPLUS_ORDER:
                v[CANONICAL_LABELS.index(name)] = float(row.get(name) or 0)
            votes[row["image"]] = v
    return votes


def load_folder(root: Path, split: str) -> FerSplit:
    """Read `root/split/<class>/*.png` (any image size, converted to 48x48 gray)."""
    import cv2

    split_dir = Path(root) / split
    votes = _read_votes(Path(root) / f"{split}_votes.csv")
    images, labels, softs, names = [], [], [], []
    for cls in sorted(p.name for p in split_dir.iterdir() if p.is_dir()):
        if cls not in CANONICAL_LABELS:
            raise ValueError(f"unknown class folder {cls!r} in {split_dir}")
        y = CANONICAL_LABELS.index(cls)
        for png in sorted((split_dir / cls).glob("*.png")):
            img = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
            if img is None:
                log.warning("unreadable image skipped: %s", png)
                continue
            if img.shape != (48, 48):
                img = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
            images.append(img)
            labels.append(y)
            v = votes.get(png.name)
            if v is None or v.sum() <= 0:
                v = np.zeros(len(CANONICAL_LABELS), dtype=np.float32)
                v[y] = 1.0
            softs.append(v / v.sum())
            names.append(f"{cls}/{png.name}")
    if not images:
        raise FileNotFoundError(f"no images under {split_dir}")
    return FerSplit(np.stack(images), np.asarray(labels, dtype=np.int64),
                    np.stack(softs).astype(np.float32), names)


def load_split(root: Path, split: str, cache_dir: Path | None = Path("runs/cache")) -> FerSplit:
    """`load_folder` with an .npz cache keyed by the folder path and file count."""
    root = Path(root).resolve()
    if cache_dir is None:
        return load_folder(root, split)
    n_files = sum(1 for _ in (root / split).glob("*/*.png"))
    key = hashlib.sha1(f"{root}|{split}|{n_files}".encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"ferplus_{split}_{key}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return FerSplit(z["images"], z["labels"], z["soft"], [str(n) for n in z["names"]])
    data = load_folder(root, split)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, images=data.images, labels=data.labels, soft=data.soft, names=np.asarray(data.names))
    tmp.replace(cache)
    return data


def class_counts(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=len(CANONICAL_LABELS)).astype(np.float64)


def in_frame(crop: np.ndarray, scale: int = 3, pad: float = 0.5) -> tuple[np.ndarray, float]:
    """A FER+ crop as a camera-like frame for the whole pipeline: upscaled `scale` times (cubic) and
    surrounded by `pad` of its side of flat gray (its median: no mirrored or smeared second face).
    Returns the frame and the offset of the crop in it (frame px = offset + crop px * scale)."""
    import cv2

    big = cv2.resize(crop, (crop.shape[1] * scale, crop.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
    border = round(pad * big.shape[0])
    frame = cv2.copyMakeBorder(big, border, border, border, border, cv2.BORDER_CONSTANT,
                               value=int(np.median(crop)))
    return frame, float(border)
