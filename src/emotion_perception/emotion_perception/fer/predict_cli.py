"""fer-predict: image files or folders -> JSONL of {"path", "probabilities", "face", "top"} per face.

Without --crops faces are detected first (one line per face, or one line with "face": null when
none is found); with --crops every image is taken as a face crop, like the FER+ images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from avatar_common.emotion import CANONICAL_LABELS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


def iter_images(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def predict_paths(paths: list[Path], backend: str = "onnx", model: str | None = None, crops: bool = False,
                  all_faces: bool = True, threads: int = 2) -> list[dict]:
    import cv2

    from ..face.classifier import make_classifier
    from ..face.crop import to_crop
    from ..face.pipeline import FacePipeline

    clf = make_classifier(backend, model, threads)
    pipe = FacePipeline(clf, tracker=None, all_faces=all_faces)
    rows: list[dict] = []
    for path in iter_images(paths):
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.size == 0:
            rows.append({"path": str(path), "error": "unreadable image"})
            continue
        if img.dtype != np.uint8:
            img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
        if crops:
            probs = clf.predict(to_crop(img)[None])[0]
            rows.append(_row(path, probs, None))
            continue
        gray = img if img.ndim == 2 else cv2.cvtColor(
            img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
        faces = pipe.process(gray).faces
        if not faces:
            rows.append({"path": str(path), "face": None, "probabilities": None, "top": None})
        for f in faces:
            rows.append(_row(path, f.probs, f.box.as_list(), f.box.score))
    return rows


def _row(path: Path, probs: np.ndarray, box: list[int] | None, score: float | None = None) -> dict:
    i = int(np.argmax(probs))
    probabilities = {lab: round(float(p), 5) for lab, p in zip(CANONICAL_LABELS, probs, strict=True)}
    row = {"path": str(path), "probabilities": probabilities, "top": CANONICAL_LABELS[i], "face": box}
    if score is not None:
        row["face_score"] = round(float(score), 4)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-predict", description=__doc__)
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders (searched recursively)")
    p.add_argument("--crops", action="store_true", help="images already are face crops (no detection)")
    p.add_argument("--largest", action="store_true", help="only the largest face per image")
    p.add_argument("--backend", choices=["onnx", "torch"], default="onnx")
    p.add_argument("--model", help="ONNX or .pt model (default: the shipped model)")
    p.add_argument("--out", type=Path, help="JSONL file (default: stdout)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    missing = [str(q) for q in args.paths if not q.exists()]
    if missing:
        print(f"fer-predict: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        rows = predict_paths(args.paths, args.backend, args.model, args.crops, not args.largest, args.threads)
    except (FileNotFoundError, ValueError) as e:
        print(f"fer-predict: {e}", file=sys.stderr)
        return 2
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
