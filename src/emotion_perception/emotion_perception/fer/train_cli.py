"""fer-train: train the ResNet18 expression classifier on FER+ with a named recipe (v1, v2, v3)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from .data import load_split
from .recipes import get_recipe, recipe_file

DEFAULT_DATA = Path("../shared/datasets/ferplus")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-train", description=__doc__)
    p.add_argument("--recipe", default="v3", help=f"named recipe: {', '.join(recipe_file().recipes)}")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FER+ ImageFolder root (train/, val/)")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, history.jsonl)")
    p.add_argument("--cache", type=Path, default=Path("runs/cache"), help="cache folder for the decoded images")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--input-size", type=int)
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--balance", choices=["none", "sampler", "weights"])
    p.add_argument("--balance-power", type=float)
    p.add_argument("--ema", type=float, help="EMA decay of the weights evaluated and saved (0 = off)")
    p.add_argument("--soft-labels", action="store_true", default=None, help="train on FER+ vote distributions")
    p.add_argument("--time-budget-min", type=float, help="wall-clock budget; the cosine schedule is scaled to it")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (smoke tests)")
    p.add_argument("--train-subset", type=int, help="use a random, stratified-free subset of N training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--init-from", type=Path, metavar="CKPT",
                   help="fine-tune: start from CKPT's live weights with a fresh optimiser and schedule")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from .train import train

    try:
        recipe = get_recipe(args.recipe, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            input_size=args.input_size, warmup_steps=args.warmup_steps, balance=args.balance,
                            balance_power=args.balance_power, ema=args.ema, soft_labels=args.soft_labels)
    except (KeyError, ValueError) as e:
        print(f"fer-train: {e}", file=sys.stderr)
        return 2
    if not (args.data / "train").is_dir():
        print(f"fer-train: no FER+ data at {args.data} (see ../shared/datasets/README.md)", file=sys.stderr)
        return 2
    if args.init_from is not None and not args.init_from.is_file():
        print(f"fer-train: no checkpoint at {args.init_from}", file=sys.stderr)
        return 2
    train_data = load_split(args.data, "train", args.cache)
    val_data = load_split(args.data, "val", args.cache)
    if args.train_subset:
        idx = np.random.default_rng(args.seed).permutation(len(train_data))[:args.train_subset]
        train_data = train_data.subset(np.sort(idx))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_text(json.dumps(
        {"recipe": recipe.model_dump(), "argv": sys.argv[1:] if argv is None else argv,
         "train_n": len(train_data), "val_n": len(val_data)}, indent=1))
    res = train(recipe, train_data, val_data, args.out, seed=args.seed, resume=args.resume,
                init_from=args.init_from,
                time_budget_s=args.time_budget_min * 60 if args.time_budget_min else None,
                max_steps=args.max_steps, threads=args.threads, progress=not args.no_progress)
    print(json.dumps({"recipe": recipe.name, "epochs_done": res.epochs_done, "steps": res.steps,
                      "elapsed_s": round(res.elapsed_s, 1),
                      "best_val_acc": res.best.get("accuracy"), "best_val_macro_f1": res.best.get("macro_f1"),
                      "best_epoch": res.best.get("epoch"), "out": str(res.out_dir)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
