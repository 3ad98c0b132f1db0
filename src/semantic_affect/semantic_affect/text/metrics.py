"""Evaluation shared by training, the benchmark and tests: macro-F1 under two protocols, thresholds,
and the NRC lexicon (nrclex) baseline with the same label mapping.

Protocols:
- multi-label (GoEmotions paper; the published BERT-base 0.64): every row, a class is predicted when
  its probability passes its threshold (chosen on dev); macro-F1 over the 7 classes.
- single-label: rows with exactly one gold label, prediction = argmax; macro-F1 and accuracy (the
  protocol of a frozen MiniLM + logistic-regression baseline, 0.51 on this machine).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from semantic_affect.text.goemotions import GOEMOTIONS_EKMAN, MODEL_LABELS

BERT_BASE_MACRO_F1 = 0.64  # Demszky et al. 2020, Ekman taxonomy, multi-label protocol (published, not re-run)

# NRC lexicon categories that correspond to GoEmotions-Ekman classes (positive/negative/trust/
# anticipation have no counterpart and are ignored; no emotion word at all -> neutral).
NRC_TO_EKMAN = {"anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "joy",
                "sadness": "sadness", "surprise": "surprise"}
_WORD = re.compile(r"[a-z']+")


def f1_per_class(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F1 of each column of multi-hot arrays (0 where a class has neither gold nor predicted rows)."""
    t = y_true.astype(bool)
    p = y_pred.astype(bool)
    tp = (t & p).sum(0).astype(float)
    fp = (~t & p).sum(0).astype(float)
    fn = (t & ~p).sum(0).astype(float)
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)


def multilabel_predict(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Classes over threshold; a row with none gets its argmax (every utterance gets a label)."""
    pred = probs >= thresholds[None, :]
    none = ~pred.any(1)
    pred[none, probs[none].argmax(1)] = True
    return pred


def tune_thresholds(probs: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Per-class threshold maximising that class's F1 on (dev) data."""
    grid = np.arange(0.05, 0.951, 0.025) if grid is None else grid
    best = np.full(probs.shape[1], 0.5)
    for c in range(probs.shape[1]):
        scores = [f1_per_class(y[:, c:c + 1], (probs[:, c:c + 1] >= g))[0] for g in grid]
        best[c] = grid[int(np.argmax(scores))]
    return best


def _both_protocols(y: np.ndarray, predicted: np.ndarray, scores: np.ndarray) -> dict[str, object]:
    """Multi-label F1 of `predicted` (multi-hot) and single-label argmax F1 of `scores`, against `y`."""
    ml = f1_per_class(y, predicted)
    single = y.sum(1) == 1
    gold = y[single].argmax(1)
    arg = scores[single].argmax(1)  # ties -> lowest id
    onehot = np.eye(y.shape[1])
    sl = f1_per_class(onehot[gold], onehot[arg])
    return {
        "multilabel_macro_f1": round(float(ml.mean()), 4),
        "multilabel_f1_per_class": {MODEL_LABELS[i]: round(float(v), 4) for i, v in enumerate(ml)},
        "single_label_macro_f1": round(float(sl.mean()), 4),
        "single_label_accuracy": round(float((gold == arg).mean()), 4),
        "single_label_f1_per_class": {MODEL_LABELS[i]: round(float(v), 4) for i, v in enumerate(sl)},
        "rows": len(y),
        "single_label_rows": int(single.sum()),
    }


def evaluate(probs: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> dict[str, object]:
    """Both protocols' numbers for probabilities `probs` (n, 7) against multi-hot `y`."""
    return _both_protocols(y, multilabel_predict(probs, thresholds), probs)


@lru_cache(maxsize=1)
def _nrc() -> object:
    from nrclex import NRCLex

    return NRCLex()


def nrclex_scores(text: str) -> np.ndarray:
    """NRC emotion-word counts per GoEmotions-Ekman class (neutral = 1 when no emotion word)."""
    lex = _nrc()
    lex.load_token_list(_WORD.findall(text.lower()))  # type: ignore[attr-defined]
    raw = lex.raw_emotion_scores  # type: ignore[attr-defined]
    scores = np.zeros(len(GOEMOTIONS_EKMAN), dtype=np.float32)
    for nrc, ekman in NRC_TO_EKMAN.items():
        scores[GOEMOTIONS_EKMAN.index(ekman)] = float(raw.get(nrc, 0))
    if scores.sum() == 0:
        scores[GOEMOTIONS_EKMAN.index("neutral")] = 1.0
    return scores


def nrclex_evaluate(texts: list[str], y: np.ndarray) -> dict[str, object]:
    """The lexicon baseline under both protocols: predicted = the top-count class(es)."""
    scores = np.stack([nrclex_scores(t) for t in texts])
    return _both_protocols(y, scores >= scores.max(1, keepdims=True), scores)
