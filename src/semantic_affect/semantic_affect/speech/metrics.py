"""Word error rate as the field reports it, for tests and bench/speech.py.

Both sides go through Whisper's English text normalizer (Radford et al. 2022, the `whisper-normalizer`
package: lower case, punctuation and fillers removed, numbers as digits, British spellings and
contractions standardised), then jiwer counts the word edits. Without it, "eight" vs "8" or
"practise" vs "practice" count as errors that no listener would call one.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _normalizer() -> object:
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """'Let us practise at eight, OK?' -> 'let us practice at 8 ok'."""
    return str(_normalizer()(text))  # type: ignore[operator]


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER over normalised text: total word edits / total reference words (0 when there are
    no reference words)."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    pairs = [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r.strip()]  # jiwer refuses empty references; they hold no words
    if not pairs:
        return 0.0
    out = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    return (out.substitutions + out.deletions + out.insertions) / sum(len(r.split()) for r, _ in pairs)
