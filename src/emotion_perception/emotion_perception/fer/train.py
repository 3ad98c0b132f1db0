"""Training loop for FerNet on FER+ (pure: no rclpy). Used by `fer-train` and the tests.

Augmentation runs on whole batches (one affine grid_sample that also upsizes 48 -> input size, then
colour jitter and random erasing), which keeps a 2-core CPU busy with the network, not with PIL.
Checkpoints (`last.pt` every epoch, `best.pt` on best val accuracy) hold everything needed to resume.
An optional wall-clock budget scales the cosine schedule to the time available.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf
from avatar_common.emotion import CANONICAL_LABELS
from tqdm import tqdm

from .data import FerSplit, class_counts
from .model import FerNet, build_model
from .recipes import Augment, Recipe

log = logging.getLogger(__name__)


def augment_batch(images: torch.Tensor, aug: Augment, size: int, gen: torch.Generator) -> torch.Tensor:
    """uint8 (N, H, W) -> float (N, 1, size, size) in [0, 1] with random geometry and colour."""
    n = images.shape[0]
    x = images.float().div_(255.0).unsqueeze(1)

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    ang = u(-aug.rotate_deg, aug.rotate_deg) * math.pi / 180
    shear = u(-aug.shear_deg, aug.shear_deg) * math.pi / 180
    scale = u(1 - aug.scale, 1 + aug.scale)
    tx, ty = u(-aug.translate, aug.translate) * 2, u(-aug.translate, aug.translate) * 2
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if aug.flip else torch.ones(n)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos / scale * flip
    theta[:, 0, 1] = (-sin + torch.tan(shear) * cos) / scale
    theta[:, 1, 0] = sin / scale * flip
    theta[:, 1, 1] = (cos + torch.tan(shear) * sin) / scale
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = nnf.affine_grid(theta, [n, 1, size, size], align_corners=False)
    x = nnf.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if aug.contrast > 0:
        mean = x.mean(dim=(2, 3), keepdim=True)
        x = (x - mean) * u(1 - aug.contrast, 1 + aug.contrast).view(n, 1, 1, 1) + mean
    if aug.brightness > 0:
        x = x + u(-aug.brightness, aug.brightness).view(n, 1, 1, 1) * 0.5
    x = x.clamp_(0.0, 1.0)
    if aug.gamma > 0:
        x = x.pow(torch.exp(u(-aug.gamma, aug.gamma)).view(n, 1, 1, 1))
    if aug.erase_p > 0:
        for i in torch.nonzero(torch.rand(n, generator=gen) < aug.erase_p).flatten().tolist():
            h = int(torch.randint(size // 8, size // 3 + 1, (1,), generator=gen))
            w = int(torch.randint(size // 8, size // 3 + 1, (1,), generator=gen))
            top = int(torch.randint(0, size - h + 1, (1,), generator=gen))
            left = int(torch.randint(0, size - w + 1, (1,), generator=gen))
            x[i, :, top:top + h, left:left + w] = float(torch.rand(1, generator=gen))
    return x


def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Per-class weights ~ count^-power, scaled so the mean weight over training samples is 1."""
    counts = np.maximum(class_counts(labels), 1.0)
    w = counts ** (-power)
    return w * counts.sum() / (w * counts).sum()


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """uint8 (N, H, W) crops -> logits (N, 8), model in eval mode."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).float().div_(255.0).unsqueeze(1)
        out.append(model(x).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(CANONICAL_LABELS)), np.float32)


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, macro-F1 over the classes present in y_true, per-class F1, confusion matrix."""
    from sklearn.metrics import confusion_matrix, f1_score

    labels = list(range(len(CANONICAL_LABELS)))
    present = sorted(set(int(v) for v in y_true))
    per = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_class_f1": {CANONICAL_LABELS[i]: float(per[i]) for i in labels},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


@dataclass
class TrainResult:
    best: dict
    last: dict
    epochs_done: int
    steps: int
    elapsed_s: float
    out_dir: Path


class _Ema:
    def __init__(self, model: FerNet, decay: float) -> None:
        self.decay = decay
        self.model = build_model(model.net.fc[0].p, model.input_size)
        self.model.load_state_dict(model.state_dict())
        self.model.eval()

    @torch.no_grad()
    def update(self, model: FerNet, step: int) -> None:
        # warm-up of the decay so the random initial weights do not linger in the average
        decay = min(self.decay, (1 + step) / (10 + step))
        for e, p in zip(self.model.parameters(), model.parameters(), strict=False):
            e.lerp_(p, 1 - decay)
        # BatchNorm statistics are averaged too: running stats copied from the live model do not
        # match averaged weights (measured: such an EMA predicted one class for 2 epochs).
        for e, b in zip(self.model.buffers(), model.buffers(), strict=False):
            if e.dtype.is_floating_point:
                e.lerp_(b, 1 - decay)
            else:
                e.copy_(b)


def train(recipe: Recipe, train_data: FerSplit, val_data: FerSplit, out_dir: Path, *, seed: int = 0,
          resume: bool = False, init_from: Path | None = None, time_budget_s: float | None = None,
          max_steps: int | None = None, threads: int | None = None, progress: bool = True,
          on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train (or resume) into `out_dir`; returns best and last validation metrics.

    `init_from` starts from another run's live weights with a fresh optimiser and schedule (a warm
    restart: how the shipped model continued a finished cosine run); `resume` wins if OUT/last.pt exists.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    gen = torch.Generator().manual_seed(seed)

    model = build_model(recipe.dropout, recipe.input_size)
    if init_from is not None:
        model.load_state_dict(torch.load(init_from, map_location="cpu", weights_only=False)["model"])
        log.info("initialised from the live weights of %s", init_from)
    ema = _Ema(model, recipe.ema) if recipe.ema > 0 else None
    params = [{"params": [p for n, p in model.named_parameters() if p.ndim > 1], "weight_decay": recipe.weight_decay},
              {"params": [p for n, p in model.named_parameters() if p.ndim <= 1], "weight_decay": 0.0}]
    if recipe.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=recipe.lr)
    elif recipe.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=recipe.lr)
    else:
        opt = torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, nesterov=True)

    n = len(train_data)
    steps_per_epoch = max(1, n // recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    cw = class_weights(train_data.labels, recipe.balance_power)
    loss_w = torch.tensor(cw, dtype=torch.float32) if recipe.balance == "weights" else None
    sample_p = torch.tensor(cw[train_data.labels], dtype=torch.float64) if recipe.balance == "sampler" else None
    images = torch.from_numpy(train_data.images)
    targets = torch.from_numpy(train_data.soft if recipe.soft_labels
                               else np.eye(len(CANONICAL_LABELS), dtype=np.float32)[train_data.labels])

    state = {"epoch": 0, "step": 0, "elapsed_s": 0.0, "best": None, "history": []}
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if resume and last_path.exists():
        ckpt = torch.load(last_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if ema is not None and ckpt.get("ema") is not None:
            ema.model.load_state_dict(ckpt["ema"])
        gen.set_state(ckpt["rng"]["gen"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        state = {k: ckpt[k] for k in state}
        log.info("resumed from %s at epoch %d step %d", last_path, state["epoch"], state["step"])

    def progress_of(step: int, elapsed: float) -> float:
        p = step / total_steps
        if time_budget_s:
            p = max(p, elapsed / time_budget_s)
        return min(p, 1.0)

    def lr_at(step: int, elapsed: float) -> float:
        warm = min(1.0, (step + 1) / recipe.warmup_steps) if recipe.warmup_steps else 1.0
        if recipe.schedule == "cosine":
            return recipe.lr * warm * 0.5 * (1 + math.cos(math.pi * progress_of(step, elapsed)))
        return recipe.lr * warm

    def save(path: Path, last_metrics: dict) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({
            "model": model.state_dict(), "ema": ema.model.state_dict() if ema else None,
            "optimizer": opt.state_dict(), "rng": {"gen": gen.get_state(), "torch": torch.get_rng_state()},
            "recipe": recipe.model_dump(), "labels": list(CANONICAL_LABELS), "seed": seed,
            "metrics": last_metrics, **state,
        }, tmp)
        tmp.replace(path)

    eval_model = ema.model if ema else model
    last: dict = {}
    t0 = time.monotonic() - state["elapsed_s"]
    done = progress_of(state["step"], state["elapsed_s"]) >= 1.0
    while not done:
        epoch = state["epoch"]
        order = (torch.multinomial(sample_p, n, replacement=True, generator=gen) if sample_p is not None
                 else torch.randperm(n, generator=gen))
        model.train()
        run_loss, run_correct, seen = 0.0, 0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"{recipe.name} epoch {epoch + 1}", disable=not progress,
                   mininterval=10.0, leave=False)
        for b in bar:
            idx = order[b * recipe.batch_size:(b + 1) * recipe.batch_size]
            x = augment_batch(images[idx], recipe.aug, recipe.input_size, gen)
            t = targets[idx]
            for g in opt.param_groups:
                g["lr"] = lr_at(state["step"], time.monotonic() - t0)
            logits = model(x)
            loss = nnf.cross_entropy(logits, t, weight=loss_w, label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(model, state["step"])
            state["step"] += 1
            run_loss += loss.item() * len(idx)
            run_correct += int((logits.argmax(1) == t.argmax(1)).sum())
            seen += len(idx)
            if b % 20 == 0:
                bar.set_postfix(loss=f"{run_loss / seen:.3f}", acc=f"{run_correct / seen:.3f}",
                                lr=f"{opt.param_groups[0]['lr']:.2e}")
            if progress_of(state["step"], time.monotonic() - t0) >= 1.0:
                done = True
                break
        bar.close()
        state["epoch"] = epoch + 1
        state["elapsed_s"] = time.monotonic() - t0
        pred = predict_logits(eval_model, val_data.images).argmax(1)
        last = metrics(val_data.labels, pred)
        row = {"epoch": state["epoch"], "step": state["step"], "elapsed_s": round(state["elapsed_s"], 1),
               "train_loss": run_loss / max(seen, 1), "train_acc": run_correct / max(seen, 1),
               "val_acc": last["accuracy"], "val_macro_f1": last["macro_f1"],
               "lr": opt.param_groups[0]["lr"], "partial_epoch": seen < steps_per_epoch * recipe.batch_size}
        state["history"].append(row)
        with (out_dir / "history.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
        log.info("epoch %d: %s", state["epoch"], json.dumps(row))
        if on_epoch:
            on_epoch(row)
        if state["best"] is None or last["accuracy"] > state["best"]["accuracy"]:
            state["best"] = {**last, "epoch": state["epoch"]}
            save(best_path, last)
        save(last_path, last)
        if max_steps is not None and state["step"] >= max_steps:
            done = True
    return TrainResult(best=state["best"] or {}, last=last, epochs_done=state["epoch"], steps=state["step"],
                       elapsed_s=state["elapsed_s"], out_dir=out_dir)
