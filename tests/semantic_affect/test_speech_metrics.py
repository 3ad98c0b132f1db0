"""Word error rate: Whisper's English normalizer on both sides, then jiwer's word edits."""

from __future__ import annotations

import pytest
from semantic_affect.speech.metrics import normalize, wer


def test_spelling_numbers_and_punctuation_are_not_errors():
    assert wer(["Remind me to take my tablets at eight?"], ["remind me to take my tablets at 8"]) == 0
    assert wer(["Let us practise my French together."], ["Let us practice my French together"]) == 0
    assert normalize("The neighbours, uh, have a new puppy!") == "the neighbors have a new puppy"


def test_edits_are_counted_over_reference_words():
    assert wer(["a b c d"], ["a x c d e"]) == pytest.approx(0.5)  # one substitution, one insertion
    assert wer(["the orange cat slept", "good morning"], ["the orange cat", "good morning"]) == pytest.approx(1 / 6)
    assert wer(["the cat sat"], [""]) == 1.0
    assert wer([""], ["hello"]) == 0.0  # no reference words: nothing to get wrong
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        wer(["a", "b"], ["a"])
