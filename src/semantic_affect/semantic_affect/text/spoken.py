"""Spoken form of written text: what a speech recognizer hands the text model.

Written training data (Reddit comments) has case, punctuation, apostrophes and emoji; transcripts of
speech have none of these but carry fillers ("um", "like", "you know"). Training and evaluating on this
form closes that gap. Deterministic: the same text and seed always give the same spoken form.
"""

from __future__ import annotations

import random
import re
import zlib

FILLERS: tuple[str, ...] = ("um", "uh", "like", "you know", "i mean", "so", "well")
_BRACKET = re.compile(r"\[([a-z]+)\]")  # GoEmotions placeholders such as [NAME]
_APOSTROPHE = re.compile(r"['\u2019`]")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")


def normalise_spoken(text: str) -> str:
    """Lowercase, contractions without apostrophes ("don't" -> "dont"), no punctuation, no emoji."""
    t = _BRACKET.sub(r"\1", text.lower())
    t = _APOSTROPHE.sub("", t)
    t = _NON_WORD.sub(" ", t)
    return _SPACES.sub(" ", t).strip()


def spoken(text: str, seed: int = 0, filler_rate: float = 0.12) -> str:
    """Spoken form of `text`: `normalise_spoken` plus fillers inserted before words with probability
    `filler_rate` each (the random stream depends only on `seed` and the text)."""
    words = normalise_spoken(text).split()
    rng = random.Random(zlib.crc32(text.encode("utf-8")) ^ (seed * 0x9E3779B1))
    out: list[str] = []
    for w in words:
        if rng.random() < filler_rate:
            out.append(rng.choice(FILLERS))
        out.append(w)
    return " ".join(out)
