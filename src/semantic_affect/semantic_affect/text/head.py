"""The trained classification head in plain numpy/scipy, no pickle.

Parts, blended: (1) an ensemble of one-hidden-layer MLPs on the sentence embedding, sigmoid outputs
averaged; (2) lexical parts, TF-IDF of word n-grams and of character n-grams -> one logistic
regression per class each (Reddit-style wording, spelling and slang carry signal the frozen sentence
embedding misses). probs = (1 - sum(w_i)) * mlp + sum(w_i * lexical_i). Stored as `<stem>.npz`
(numeric and fixed-width unicode arrays, loaded with allow_pickle=False) plus `<stem>.json`
(labels, thresholds, blend weights, metrics; validated).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from semantic_affect.text.goemotions import MODEL_LABELS

MODEL_NAME = "minilm-tuned-spoken-ekman-v3"  # default: encoder's top 2 layers tuned, written + spoken-form text
PREVIOUS_MODEL = "minilm-tfidf-spoken-ekman-v2"  # frozen encoder; selectable by name (so is the first, ...-v1)
TUNED_PREFIX = "encoder_tuned."  # npz keys of tuned encoder parameters: prefix + BertModel parameter name


class LexicalMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    analyzer: str = Field(default="word", pattern="^(word|char_wb)$")
    ngram_min: int = Field(default=1, ge=1, le=6)
    ngram_max: int = Field(ge=1, le=6)
    lowercase: bool = True
    sublinear_tf: bool = True
    weight: float = Field(default=0.0, ge=0.0, le=1.0)


class HeadMeta(BaseModel):
    """Schema of <model>.json (validated on load)."""

    model_config = ConfigDict(extra="allow")
    schema_version: int = Field(ge=1, le=1)
    name: str
    encoder: str
    labels: list[str]
    thresholds: list[float]
    members: int = Field(ge=1)
    activation: str = "gelu_tanh"
    lexical: list[LexicalMeta] = []
    encoder_layers: int = Field(default=0, ge=0, le=6)  # top encoder layers tuned (arrays in the npz), 0 = none


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


@dataclass
class Lexical:
    """TF-IDF (sklearn TfidfVectorizer semantics: smooth idf, sublinear tf, l2 norm) + per-class LR."""

    vocab: np.ndarray  # (V,) str
    idf: np.ndarray  # (V,)
    coef: np.ndarray  # (V, C)
    bias: np.ndarray  # (C,)
    meta: LexicalMeta
    _vec: Any = field(default=None, repr=False)

    def features(self, texts: list[str]) -> Any:
        from scipy import sparse
        from sklearn.feature_extraction.text import CountVectorizer

        if self._vec is None:
            self._vec = CountVectorizer(vocabulary={str(t): i for i, t in enumerate(self.vocab)},
                                        analyzer=self.meta.analyzer, lowercase=self.meta.lowercase,
                                        ngram_range=(self.meta.ngram_min, self.meta.ngram_max))
        x = self._vec.transform(texts).astype(np.float64)
        if self.meta.sublinear_tf:
            x.data = 1.0 + np.log(x.data)
        x = x @ sparse.diags(self.idf.astype(np.float64))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x

    def probs(self, texts: list[str]) -> np.ndarray:
        return sigmoid(np.asarray(self.features(texts) @ self.coef.astype(np.float64)) + self.bias).astype(np.float32)


@dataclass
class Head:
    """probs = (1 - sum w_i) * mean_k sigmoid(gelu(x W1 + b1) W2 + b2) + sum w_i * lexical_i(texts)."""

    meta: HeadMeta
    w1: np.ndarray  # (k, d, h)
    b1: np.ndarray  # (k, h)
    w2: np.ndarray  # (k, h, c)
    b2: np.ndarray  # (k, c)
    lexical: list[Lexical] = field(default_factory=list)
    tuned: dict[str, np.ndarray] = field(default_factory=dict)  # encoder parameters by name (finetune.py)

    @property
    def thresholds(self) -> np.ndarray:
        return np.asarray(self.meta.thresholds, dtype=np.float32)

    def mlp_probs(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        out = np.zeros((x.shape[0], self.w2.shape[2]), dtype=np.float32)
        for k in range(self.w1.shape[0]):
            h = gelu_tanh(x @ self.w1[k] + self.b1[k])
            out += sigmoid(h @ self.w2[k] + self.b2[k])
        return out / self.w1.shape[0]

    def probs(self, x: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """Class probabilities from embeddings `x` and (for the lexical part) the same `texts`."""
        p = self.mlp_probs(x)
        parts = [lex for lex in self.lexical if lex.meta.weight > 0]
        if parts:
            if texts is None or len(texts) != len(p):
                raise ValueError("this head has lexical parts: pass the texts with the embeddings")
            p = (1.0 - sum(lex.meta.weight for lex in parts)) * p
            for lex in parts:
                p = p + lex.meta.weight * lex.probs(list(texts))
        return p

    def save(self, stem: str | Path) -> None:
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"w1": self.w1.astype(np.float16), "b1": self.b1.astype(np.float32),
                                         "w2": self.w2.astype(np.float16), "b2": self.b2.astype(np.float32)}
        for i, lex in enumerate(self.lexical):
            arrays.update({f"vocab{i}": np.asarray(lex.vocab, dtype=str), f"idf{i}": lex.idf.astype(np.float32),
                           f"lex_coef{i}": lex.coef.astype(np.float16), f"lex_bias{i}": lex.bias.astype(np.float32)})
        arrays.update({TUNED_PREFIX + k: v.astype(np.float16) for k, v in self.tuned.items()})
        self.meta.lexical = [lex.meta for lex in self.lexical]
        np.savez_compressed(stem.with_suffix(".npz"), **arrays)
        stem.with_suffix(".json").write_text(json.dumps(self.meta.model_dump(), indent=1) + "\n")


def default_stem() -> Path:
    return Path(str(files("semantic_affect") / "models" / MODEL_NAME))


def resolve_stem(stem: str | Path | None = None) -> Path:
    """`stem` as a path; a bare name of a model shipped in the package (e.g. the previous
    "minilm-tfidf-goemotions-ekman-v1") resolves to that model; None/'' = the default model."""
    if not stem:
        return default_stem()
    path = Path(stem)
    if len(path.parts) == 1 and not path.with_suffix(".json").exists():
        shipped = default_stem().with_name(path.name)
        if shipped.with_suffix(".json").exists():
            return shipped
    return path


def load_head(stem: str | Path | None = None) -> Head:
    """Load and check a head (a path stem or the name of a shipped model); raises
    ValueError/FileNotFoundError with a clear reason."""
    stem = resolve_stem(stem)
    meta = HeadMeta.model_validate(json.loads(stem.with_suffix(".json").read_text()))
    if tuple(meta.labels) != MODEL_LABELS:
        raise ValueError(f"{stem}.json labels {meta.labels} != {list(MODEL_LABELS)}")
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as z:
        arrays: dict[str, Any] = {k: z[k].astype(np.float32) for k in ("w1", "b1", "w2", "b2")}
        lexical = []
        for i, lex_meta in enumerate(meta.lexical):
            if f"vocab{i}" not in z.files:
                raise ValueError(f"{stem}.npz lacks the arrays of lexical part {i}")
            lexical.append(Lexical(z[f"vocab{i}"].astype(str), z[f"idf{i}"].astype(np.float32),
                                   z[f"lex_coef{i}"].astype(np.float32), z[f"lex_bias{i}"].astype(np.float32),
                                   lex_meta))
        tuned = {k[len(TUNED_PREFIX):]: z[k].astype(np.float32) for k in z.files if k.startswith(TUNED_PREFIX)}
    if bool(tuned) != (meta.encoder_layers > 0):
        raise ValueError(f"{stem}: encoder_layers {meta.encoder_layers} but {len(tuned)} tuned encoder arrays")
    k, _, h = arrays["w1"].shape
    c = len(MODEL_LABELS)
    if arrays["w2"].shape[1:] != (h, c) or k != meta.members or len(meta.thresholds) != c \
            or k != arrays["w2"].shape[0]:
        raise ValueError(f"{stem}.npz shapes do not match its metadata")
    for lex in lexical:
        if lex.coef.shape != (len(lex.vocab), c) or lex.idf.shape != lex.vocab.shape:
            raise ValueError(f"{stem}.npz lexical shapes do not match")
    if sum(lex.weight for lex in meta.lexical) > 1.0:
        raise ValueError(f"{stem}.json lexical weights sum above 1")
    return Head(meta, **arrays, lexical=lexical, tuned=tuned)
