"""Embedding cache for the data set splits (computed once, kept under an ignored folder, e.g. runs/)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from semantic_affect.text.embedding import ENCODER_NAME, embed
from semantic_affect.text.goemotions import Split

log = logging.getLogger(__name__)


def cached_embeddings(split: Split, cache_dir: str | Path, progress: bool = False, encoder: object | None = None,
                      key: str = ENCODER_NAME) -> np.ndarray:
    """Embeddings of `split.texts` by `encoder` (named `key`; default the package's encoder), read
    from `cache_dir` when the same texts were embedded by it before."""
    digest = hashlib.sha256("\n".join(split.texts).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{key}-{split.name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    log.info("embedding %d texts of %s (cached at %s)", len(split.texts), split.name, path)
    emb = embed(split.texts, progress=progress, encoder=encoder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb)
    tmp.replace(path)
    return emb
