"""`affect-text-train`: retrain the offline text model on GoEmotions-Ekman (recipe: text/train.py).

Writes the model (.npz + .json) and its MODEL_CARD.md next to it, and prints the report as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from semantic_affect.text.goemotions import find_dataset
from semantic_affect.text.head import MODEL_NAME, default_stem
from semantic_affect.text.train import model_card, train_offline

# Defaults reproduce the shipped model; the previous ones: --name minilm-tfidf-spoken-ekman-v2 --spoken 1
# --finetune-layers 0 --mlp-from minilm-tfidf-goemotions-ekman-v1, and --name minilm-tfidf-goemotions-ekman-v1
# --spoken 0 --negation 0 --finetune-layers 0
RECIPE_OPTIONS = ("members", "hidden", "epochs", "lr", "dropout", "weight_decay", "lexical_features",
                  "char_features", "lexical_c", "spoken", "negation", "mlp_from", "finetune_layers", "finetune_epochs",
                  "finetune_lr", "encoder_from")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="affect-text-train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="goemotions_ekman folder (default ../shared/datasets/goemotions_ekman)")
    p.add_argument("--cache", default="runs/text_affect", help="folder for cached embeddings (git-ignored)")
    p.add_argument("--out", default=None, help=f"output stem (default: the package's models/{MODEL_NAME})")
    p.add_argument("--members", type=int, default=5, help="ensemble size")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--lexical-features", type=int, default=20000, help="word TF-IDF vocabulary size (0 = none)")
    p.add_argument("--char-features", type=int, default=50000, help="char TF-IDF vocabulary size (0 = none)")
    p.add_argument("--lexical-c", type=float, default=1.0, help="inverse L2 strength of the lexical LR")
    p.add_argument("--spoken", type=float, default=0.5,
                   help="share of train rows added again in spoken form (0..1; lowercase, no punctuation, fillers)")
    p.add_argument("--negation", type=int, default=1, choices=(0, 1), help="1 = add the negation templates")
    p.add_argument("--mlp-from", default="",
                   help="reuse the embedding MLPs of this model (shipped name or stem) and retrain only the lexical "
                   "parts, blend and thresholds; '' = train the MLPs too (embeds the augmented training set: about "
                   "4 minutes on 2 idle cores)")
    p.add_argument("--finetune-layers", type=int, default=2,
                   help="fine-tune the top N of the encoder's 6 layers first (0 = frozen encoder; 2 layers: about "
                   "7 min per epoch on 2 cores, 3.5 MB per layer in the model file)")
    p.add_argument("--finetune-epochs", type=int, default=2)
    p.add_argument("--finetune-lr", type=float, default=1e-4, help="peak learning rate of the tuned layers")
    p.add_argument("--encoder-from", default="",
                   help="take the tuned encoder layers of this model (shipped name or stem) or .npz instead of tuning")
    p.add_argument("--name", default=MODEL_NAME, help="model name (file stem under models/ unless --out)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch CPU threads for embedding and the MLPs (fine-tuning uses every core)")
    p.add_argument("--no-test", action="store_true", help="do not evaluate on the test split")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.spoken <= 1.0:
        print("affect-text-train: error: --spoken must be within 0..1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    try:
        folder = find_dataset(args.data)
    except FileNotFoundError as exc:
        print(f"affect-text-train: error: {exc}", file=sys.stderr)
        return 2
    head, report = train_offline(folder, args.cache, {k: getattr(args, k) for k in RECIPE_OPTIONS},
                                 test=not args.no_test, name=args.name)
    out = Path(args.out) if args.out else default_stem().with_name(args.name)
    head.save(out)
    (out.parent / "MODEL_CARD.md").write_text(model_card(report, head))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
