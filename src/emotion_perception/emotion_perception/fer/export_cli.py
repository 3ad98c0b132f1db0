"""fer-export: training checkpoint (.pt) -> ONNX model (input: (N, 1, 48, 48) gray in [0, 1]; output: logits)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path


def export_onnx(checkpoint: Path, out: Path, flip_tta: bool = False, ema: bool = True,
                metrics: dict | None = None) -> dict:
    """Export a checkpoint; labels, recipe and val metrics go into the ONNX metadata."""
    import onnx
    import torch

    from .model import FlipTTA, load_checkpoint_model

    model, meta = load_checkpoint_model(str(checkpoint), ema=ema)
    net = FlipTTA(model).eval() if flip_tta else model
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.rand(1, 1, 48, 48), str(out), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False,
                          do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load(str(out))
    info = {"labels": json.dumps(meta.get("labels")), "recipe": json.dumps(meta.get("recipe")),
            "epoch": str(meta.get("epoch")), "flip_tta": str(flip_tta), "weights": meta["weights"],
            "val_accuracy": str((metrics or meta.get("metrics") or {}).get("accuracy")),
            "val_macro_f1": str((metrics or meta.get("metrics") or {}).get("macro_f1"))}
    for k, v in info.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "emotion_perception.fer-export"
    onnx.checker.check_model(m)
    onnx.save(m, str(out))
    return {"out": str(out), "bytes": out.stat().st_size, **info}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fer-export", description=__doc__)
    p.add_argument("checkpoint", type=Path, help="best.pt or last.pt from fer-train")
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    p.add_argument("--flip-tta", action="store_true", help="average with the mirrored crop inside the graph")
    p.add_argument("--no-ema", action="store_true", help="export the live weights, not the EMA")
    p.add_argument("--metrics", type=Path, help="fer-eval JSON of exactly these weights, stored as metadata "
                   "(default: the checkpoint's own last validation)")
    args = p.parse_args(argv)
    if not args.checkpoint.exists():
        print(f"fer-export: no checkpoint {args.checkpoint}", file=sys.stderr)
        return 2
    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    print(json.dumps(export_onnx(args.checkpoint, args.out, args.flip_tta, not args.no_ema, metrics)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
