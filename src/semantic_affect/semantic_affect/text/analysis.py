"""The result of analysing one utterance, whatever the backend (pure data, no rclpy)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from avatar_common.emotion import Emotion, ordered


@dataclass
class Analysis:
    """Validated emotion plus what a UI or log wants to show about how it was obtained."""

    emotion: Emotion
    backend: str  # "llm", "offline", "fallback:<reason>", "none:<reason>"
    model: str
    rationale: str = ""
    latency_ms: float = 0.0
    problems: list[str] = field(default_factory=list)

    def result_dict(self) -> dict[str, object]:
        labels, weights = ordered(self.emotion.weights)
        return {"labels": labels, "weights": [round(w, 4) for w in weights],
                "valence": round(float(self.emotion.valence), 4), "arousal": round(float(self.emotion.arousal), 4),
                "confidence": round(float(self.emotion.confidence), 4)}

    def to_json(self) -> str:
        return json.dumps(self.result_dict())

    def record(self, text: str = "", utterance_id: str = "") -> dict[str, object]:
        """One JSONL row for the CLI."""
        row: dict[str, object] = {"id": utterance_id, "text": text, **self.result_dict(),
                                  "weights_by_label": dict(self.emotion.weights),
                                  "backend": self.backend, "model": self.model, "rationale": self.rationale,
                                  "latency_ms": round(self.latency_ms, 2)}
        if self.problems:
            row["problems"] = list(self.problems)
        return row


def neutral(backend: str, model: str = "", rationale: str = "") -> Analysis:
    """The safe answer when nothing else is available: neutral with zero confidence."""
    return Analysis(Emotion(weights={"neutral": 1.0}, confidence=0.0), backend, model, rationale)
