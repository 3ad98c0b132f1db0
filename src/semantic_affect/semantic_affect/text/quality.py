"""Is a schema-valid LLM reply worth using? Small models often fill the schema without reading anything.

Two signs, both seen from a 135M model behind a JSON grammar:
- uniform weights (every canonical label the same, all zero included): the reply says nothing about
  the utterance, so it is refused and the offline result is used instead;
- an empty or garbage rationale ("", "}}{", "..."): the weights may still be meant, but the reply
  is less trustworthy, so its confidence is halved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from avatar_common.emotion import CANONICAL_LABELS

UNIFORM_SPREAD = 0.02  # max - min over the canonical labels below which the weights say nothing
MIN_LETTERS = 3  # a rationale needs at least this many letters ...
MIN_LETTER_SHARE = 0.5  # ... and this share of its non-space characters
RATIONALE_FACTOR = 0.5  # confidence factor for an empty or garbage rationale


@dataclass
class Quality:
    refuse: str = ""  # non-empty: why the reply must not be used
    confidence_factor: float = 1.0
    problems: list[str] = field(default_factory=list)


def assess(weights: Mapping[str, float], rationale: str) -> Quality:
    """Judge clamped canonical `weights` (labels left out count as 0) and the reply's rationale."""
    quality = Quality()
    values = [float(weights.get(label, 0.0)) for label in CANONICAL_LABELS]
    spread = max(values) - min(values)
    if spread < UNIFORM_SPREAD:
        quality.refuse = f"uninformative reply: every emotion weighted {values[0]:.2f}"
        return quality
    if not informative_text(rationale):
        shown = " ".join(rationale.split())[:20]
        quality.confidence_factor = RATIONALE_FACTOR
        quality.problems.append(f"rationale {shown!r} says nothing: confidence halved")
    return quality


def informative_text(text: str) -> bool:
    """At least MIN_LETTERS letters (any script) making up at least MIN_LETTER_SHARE of the characters."""
    chars = [c for c in str(text) if not c.isspace()]
    letters = sum(c.isalpha() for c in chars)
    return letters >= MIN_LETTERS and letters >= MIN_LETTER_SHARE * len(chars)
