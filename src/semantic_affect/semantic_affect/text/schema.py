"""The LLM reply contract: a JSON schema for structured output and the validation of what comes back.

A reply is used only if it parses as JSON and validates against `AffectReply` with at least one known
label; numbers out of range are clamped and reported, unknown labels and unknown fields are dropped
and reported, missing valence/arousal are derived from the weights. Anything else raises
`InvalidReplyError` and the caller falls back.

Parsing tolerates what real servers emit where no meaning can change: raw control characters inside
strings (llama.cpp's JSON grammar lets newlines into the rationale), ```json fences, and text after
the complete object (or prose before it). A truncated or otherwise broken object is still refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from avatar_common.emotion import CANONICAL_LABELS, Emotion, sanitize, valence_arousal
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from semantic_affect.text.quality import assess

RATIONALE_MAX = 300
# A complete reply is about 110 tokens compact and about 150 pretty-printed with a long rationale
# (measured with SmolLM2's tokenizer); 256 leaves room and still stops a looping model early.
REPLY_TOKENS = 256


class InvalidReplyError(ValueError):
    """The reply cannot be used; the message says why in one line, `kind` names the reason for the
    fallback (invalid_reply, or uninformative for a well-formed reply that says nothing)."""

    def __init__(self, message: str, kind: str = "invalid_reply") -> None:
        super().__init__(message)
        self.kind = kind


class AffectReply(BaseModel):
    """What the LLM must return. Lenient on numbers (clamped later), strict on structure."""

    model_config = ConfigDict(extra="allow")
    weights: dict[str, Any] = Field(min_length=1)
    valence: float | None = None
    arousal: float | None = None
    confidence: float | None = None
    rationale: str = ""

    @field_validator("valence", "arousal", "confidence", mode="before")
    @classmethod
    def _number_or_none(cls, v: Any) -> Any:
        if v is None or isinstance(v, bool):
            return None if v is None else float(v)
        if isinstance(v, int | float):
            return float(v)
        raise ValueError("must be a number")


def json_schema() -> dict[str, Any]:
    """JSON schema for `response_format={"type": "json_schema", ...}` (strict-mode compatible)."""
    number = {"type": "number", "minimum": 0.0, "maximum": 1.0}
    signed = {"type": "number", "minimum": -1.0, "maximum": 1.0}
    return {
        "type": "object",
        "properties": {
            "weights": {
                "type": "object",
                "description": "Weight in [0,1] of each emotion the speaker expresses; co-occurring emotions "
                               "may all be high (they need not sum to 1).",
                "properties": {label: dict(number) for label in CANONICAL_LABELS},
                "required": list(CANONICAL_LABELS),
                "additionalProperties": False,
            },
            "valence": dict(signed, description="Pleasantness, -1 unpleasant .. 1 pleasant"),
            "arousal": dict(signed, description="Activation, -1 calm .. 1 excited"),
            "confidence": dict(number, description="How sure you are of this reading, 0..1"),
            "rationale": {"type": "string", "description": "One short sentence: why"},
        },
        "required": ["weights", "valence", "arousal", "confidence", "rationale"],
        "additionalProperties": False,
    }


@dataclass
class ParsedReply:
    emotion: Emotion
    rationale: str
    problems: list[str] = field(default_factory=list)


def parse_reply(content: str | None) -> ParsedReply:
    """Validate, clamp and normalise a reply's content. Raises InvalidReplyError when it is unusable."""
    if content is None or not str(content).strip():
        raise InvalidReplyError("empty reply")
    data, problems = _decode(_strip_fences(str(content)))
    try:
        reply = AffectReply.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "reply"
        raise InvalidReplyError(f"reply fails validation: {where}: {first.get('msg')}") from None
    extra = sorted((reply.model_extra or {}).keys())
    if extra:
        problems.append(f"unknown field(s) {', '.join(k[:30] for k in extra[:5])} ignored")
    labels, weights = [], []
    for key, value in reply.weights.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
            problems.append(f"weight of {str(key)[:30]!r} is not a finite number: dropped")
            continue
        labels.append(key)
        weights.append(value)
    emotion, fixes = sanitize(labels, weights, reply.valence if reply.valence is not None else 0.0,
                              reply.arousal if reply.arousal is not None else 0.0,
                              reply.confidence if reply.confidence is not None else 0.5)
    problems += fixes
    if not emotion.weights:
        why = f" ({'; '.join(problems)})" if problems else ""
        raise InvalidReplyError("reply has no weight for any known label" + why)
    rationale = " ".join(reply.rationale.split())[:RATIONALE_MAX]
    quality = assess(emotion.weights, rationale)
    if quality.refuse:
        raise InvalidReplyError(quality.refuse, kind="uninformative")
    clean = normalise(emotion.weights)
    valence, arousal = emotion.valence, emotion.arousal
    if reply.valence is None or reply.arousal is None:
        derived = valence_arousal(clean)
        if reply.valence is None:
            valence = derived[0]
            problems.append("valence missing: derived from weights")
        if reply.arousal is None:
            arousal = derived[1]
            problems.append("arousal missing: derived from weights")
    if reply.confidence is None:
        problems.append("confidence missing: 0.5 assumed")
    confidence = emotion.confidence * (0.8 if problems else 1.0) * quality.confidence_factor
    problems += quality.problems
    return ParsedReply(Emotion(weights=clean, valence=valence, arousal=arousal, confidence=confidence),
                       rationale, problems)


def normalise(weights: dict[str, float] | Any) -> dict[str, float]:
    """Canonical order, weights below 0.01 dropped; all-zero becomes neutral 1.0.

    Weights stay independent (co-occurring emotions need not sum to 1), so no rescaling.
    """
    out = {k: round(float(weights[k]), 4) for k in CANONICAL_LABELS if k in weights and weights[k] >= 0.01}
    return out or {"neutral": 1.0}


def _decode(text: str) -> tuple[dict[str, Any], list[str]]:
    """The reply's JSON object and what was tolerated around it; InvalidReplyError when there is none.

    `strict=False` admits control characters inside strings; `raw_decode` stops at the end of the
    first complete value, so trailing text is reported and ignored. Prose before the object is
    skipped only when it holds no brackets or quotes (so "[{...}]" stays a list, not an object).
    """
    decoder = json.JSONDecoder(strict=False)
    start = text.find("{")
    if start > 0 and any(c in text[:start] for c in '[]{}"'):
        start = 0
    problems = []
    try:
        data, end = decoder.raw_decode(text, max(start, 0))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidReplyError(f"reply is not JSON ({exc.msg if hasattr(exc, 'msg') else exc})") from None
    if not isinstance(data, dict):
        raise InvalidReplyError(f"reply is a JSON {type(data).__name__}, not an object")
    if start > 0:
        problems.append(f"{start} character(s) of text before the JSON object ignored")
    rest = text[end:].strip()
    if rest:
        problems.append(f"text after the JSON object ignored: {rest[:40]!r}")
    return data, problems


def _strip_fences(text: str) -> str:
    """Servers without structured output often wrap JSON in ```json fences."""
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        if t.rstrip().endswith("```"):
            t = t.rstrip()[:-3]
    return t.strip()
