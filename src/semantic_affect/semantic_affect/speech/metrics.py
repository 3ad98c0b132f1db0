"""Word error rate (Levenshtein over normalised words), for tests and bench/speech.py."""

from __future__ import annotations

import re


def normalize_words(text: str) -> list[str]:
    """Lower case, punctuation removed, hyphens split: 'Round-trip!' -> ['round', 'trip']."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: total word edits / total reference words."""
    pairs = zip(references, hypotheses, strict=True)
    edits = sum(edit_distance(normalize_words(r), normalize_words(h)) for r, h in pairs)
    total = sum(len(normalize_words(r)) for r in references)
    return edits / total if total else 0.0
