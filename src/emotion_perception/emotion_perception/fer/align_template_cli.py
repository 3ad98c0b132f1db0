"""fer-align-template: measure where MTCNN's five landmarks sit in FER+ training faces.

Writes data/fer_landmark_template.yaml: the median position of each landmark over the train images
in which MTCNN finds one face whose centre lies inside the original crop. The face pipeline warps
every MTCNN face onto these points (face/landmark_align.py), so crops are framed like the images the
classifier was trained on. Train split only: val stays for the evaluation (`fer-eval --pipeline`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

from ..face.crop import CROP_SIZE
from ..face.landmark_align import POINTS, TEMPLATE_FILE
from .data import in_frame, load_split
from .eval_cli import DEFAULT_DATA


def landmarks_in_crops(images: np.ndarray, scale: int = 3) -> tuple[np.ndarray, int]:
    """(n_found, 5, 2) landmarks in crop pixels of the images MTCNN finds a centred face in."""
    from ..face.mtcnn_detector import MtcnnFaceDetector

    det = MtcnnFaceDetector(detect_width=0, min_face_frac=0.2)
    found = []
    for crop in images:
        frame, offset = in_frame(crop, scale)
        boxes = [b for b in det.detect(frame) if b.landmarks is not None]
        if not boxes:
            continue
        b = boxes[0]
        cx, cy = (b.x + b.w / 2 - offset) / scale, (b.y + b.h / 2 - offset) / scale
        if 0 <= cx < crop.shape[1] and 0 <= cy < crop.shape[0]:
            found.append((np.asarray(b.landmarks) - offset) / scale)
    return np.asarray(found).reshape(-1, 5, 2), len(images)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-align-template", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--n", type=int, default=3000, help="train images sampled (seed 0)")
    p.add_argument("--cache", type=Path, default=Path("runs/cache"))
    p.add_argument("--out", type=Path, default=TEMPLATE_FILE)
    args = p.parse_args(argv)
    if not (args.data / "train").is_dir():
        print(f"fer-align-template: no train split under {args.data}", file=sys.stderr)
        return 2
    data = load_split(args.data, "train", args.cache)
    pick = np.random.default_rng(0).permutation(len(data))[:args.n]
    pts, n = landmarks_in_crops(data.images[pick])
    if len(pts) < 100:
        print(f"fer-align-template: landmarks found in only {len(pts)} of {n} images", file=sys.stderr)
        return 1
    med = np.median(pts, axis=0)
    spread = np.median(np.abs(pts - med), axis=0)
    doc = {
        "schema_version": 1,
        "crop_size": CROP_SIZE,
        "points": {name: [round(float(v), 2) for v in med[i]] for i, name in enumerate(POINTS)},
        "median_abs_deviation_px": {name: [round(float(v), 2) for v in spread[i]] for i, name in enumerate(POINTS)},
        "sources": [
            "FER+ (Barsoum et al. 2016) train images, FER2013 faces; MTCNN (Zhang et al. 2016, facenet-pytorch "
            f"weights) landmarks found in {len(pts)} of {n} images sampled with seed 0, each upscaled 3x on a "
            "flat border; median per point, in pixels of the 48x48 crop",
            "command: fer-align-template --n " + str(args.n),
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# Where MTCNN's landmarks sit in FER+ training faces (generated; do not edit).\n"
                        + yaml.safe_dump(doc, sort_keys=False))
    print(yaml.safe_dump(doc, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
