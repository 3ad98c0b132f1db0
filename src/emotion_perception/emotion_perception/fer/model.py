"""The expression classifier: torchvision ResNet18 (no pretrained weights) with a 1-channel stem.

Input is a gray face crop as float in [0, 1], shape (N, 1, S, S); normalisation happens inside the
module so the exported ONNX graph is self-contained. Output: logits over CANONICAL_LABELS.
A 1-channel stem equals replicating gray to 3 channels with tied weights, at a third of the cost.
"""

from __future__ import annotations

import torch
from avatar_common.emotion import CANONICAL_LABELS
from torch import nn
from torchvision.models import resnet18

MEAN = 0.5
STD = 0.25


class FerNet(nn.Module):
    """Takes (N, 1, H, W) in [0, 1]; any H, W is resized to `input_size` inside (FER+ crops are 48)."""

    def __init__(self, dropout: float = 0.0, num_classes: int = len(CANONICAL_LABELS),
                 input_size: int = 64) -> None:
        super().__init__()
        self.input_size = int(input_size)
        net = resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        net.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(512, num_classes))
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False)
        return self.net((x - MEAN) / STD)


class FlipTTA(nn.Module):
    """Average of logits of the crop and its mirror image (used for eval/export when enabled)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.model(x) + self.model(torch.flip(x, dims=[3])))


def build_model(dropout: float = 0.0, input_size: int = 64) -> FerNet:
    return FerNet(dropout=dropout, input_size=input_size)


def load_checkpoint_model(path: str, map_location: str = "cpu", ema: bool = True) -> tuple[FerNet, dict]:
    """A FerNet in eval mode from a training checkpoint (its EMA weights if it has them and `ema`)."""
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    recipe = ckpt.get("recipe", {})
    model = build_model(dropout=float(recipe.get("dropout", 0.0)), input_size=int(recipe.get("input_size", 64)))
    use_ema = ema and ckpt.get("ema") is not None
    model.load_state_dict(ckpt["ema"] if use_ema else ckpt["model"])
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k not in ("model", "ema", "optimizer", "scheduler", "rng")}
    meta["weights"] = "ema" if use_ema else "live"
    return model, meta
