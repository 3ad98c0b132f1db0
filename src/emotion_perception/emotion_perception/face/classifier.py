"""Expression classifier backends over 48x48 gray crops: ONNX Runtime or torch, same weights.

The shipped model is one ONNX file (models/fer_resnet18.onnx). The torch backend rebuilds FerNet
and loads the weights from that ONNX file (Conv/BatchNorm/Gemm nodes in graph order match the
module order), or from a training checkpoint (.pt), so only one copy of the weights is shipped.
"""

from __future__ import annotations

import json
import logging
from importlib.resources import files
from pathlib import Path
from typing import Protocol

import numpy as np
from avatar_common.emotion import CANONICAL_LABELS

log = logging.getLogger(__name__)

MODEL_NAME = "fer_resnet18.onnx"


def shipped_model_path() -> Path:
    return Path(str(files("emotion_perception") / "models" / MODEL_NAME))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Classifier(Protocol):
    labels: tuple[str, ...]

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """uint8 (N, 48, 48) -> probabilities (N, 8) over CANONICAL_LABELS."""
        ...


def _as_batch(crops: np.ndarray) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim == 2:
        crops = crops[None]
    if crops.ndim != 3:
        raise ValueError(f"crops must be (N, H, W), got {crops.shape}")
    return (crops.astype(np.float32) / 255.0)[:, None]


def _metadata(model_path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(model_path), load_external_data=False).metadata_props}


def _read_labels(model_path: Path) -> tuple[str, ...]:
    try:
        import onnx

        meta = {p.key: p.value for p in onnx.load(str(model_path), load_external_data=False).metadata_props}
        labels = tuple(json.loads(meta.get("labels", "null")) or CANONICAL_LABELS)
    except Exception:
        labels = CANONICAL_LABELS
    if labels != CANONICAL_LABELS:
        raise ValueError(f"model {model_path} has labels {labels}, expected {CANONICAL_LABELS}")
    return labels


class OnnxClassifier:
    def __init__(self, model_path: str | Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(model_path) if model_path else shipped_model_path()
        if not self.path.exists():
            raise FileNotFoundError(f"model not found: {self.path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        # no busy-waiting between calls: idle spinning threads took the cores MTCNN (torch) runs on next
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        # metadata through ONNX Runtime itself: the onnx package is not needed at run time
        meta = self.session.get_modelmeta().custom_metadata_map
        self.labels = tuple(json.loads(meta.get("labels", "null")) or CANONICAL_LABELS)
        if self.labels != CANONICAL_LABELS:
            raise ValueError(f"model {self.path} has labels {self.labels}, expected {CANONICAL_LABELS}")

    def predict(self, crops: np.ndarray) -> np.ndarray:
        x = _as_batch(crops)
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return softmax(self.session.run(None, {self.input_name: x})[0]).astype(np.float32)


def load_onnx_weights_into(model: object, onnx_path: Path) -> None:
    """Copy Conv/BatchNorm/Gemm weights from an exported FerNet ONNX graph into a FerNet."""
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:  # the exporter shares equal tensors through Identity / Constant nodes
        if node.op_type == "Constant":
            init[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}

    def value(name: str) -> np.ndarray:
        seen = 0
        while name not in init and name in alias and seen < 100:
            name, seen = alias[name], seen + 1
        return init[name]

    nodes = [n for n in graph.node if n.op_type in ("Conv", "BatchNormalization", "Gemm")]
    mods = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear))]
    if len(nodes) == 2 * len(mods):  # flip-TTA graph: the same network applied twice
        nodes = nodes[: len(mods)]
    if len(nodes) != len(mods):
        raise ValueError(f"{onnx_path}: {len(nodes)} weight nodes, model has {len(mods)} layers")
    with torch.no_grad():
        for node, mod in zip(nodes, mods, strict=False):
            arrays = [torch.from_numpy(np.array(value(name))) for name in node.input[1:]]
            if isinstance(mod, torch.nn.BatchNorm2d):
                if node.op_type != "BatchNormalization":
                    raise ValueError(f"layer order mismatch at {node.name}")
                for t, a in zip((mod.weight, mod.bias, mod.running_mean, mod.running_var), arrays, strict=False):
                    t.copy_(a)
                mod.eps = next((a.f for a in node.attribute if a.name == "epsilon"), mod.eps)
            else:
                expect = "Conv" if isinstance(mod, torch.nn.Conv2d) else "Gemm"
                if node.op_type != expect:
                    raise ValueError(f"layer order mismatch at {node.name}: {node.op_type} vs {expect}")
                mod.weight.copy_(arrays[0])
                if len(arrays) > 1 and mod.bias is not None:
                    mod.bias.copy_(arrays[1])


class TorchClassifier:
    def __init__(self, model_path: str | Path | None = None, threads: int = 1, ema: bool = True) -> None:
        import torch

        from ..fer.model import build_model, load_checkpoint_model

        torch.set_num_threads(max(1, int(threads)))
        self.path = Path(model_path) if model_path else shipped_model_path()
        if not self.path.exists():
            raise FileNotFoundError(f"model not found: {self.path}")
        if self.path.suffix == ".pt":
            self.model, _ = load_checkpoint_model(str(self.path), ema=ema)
        else:
            self.model = build_model()
            load_onnx_weights_into(self.model, self.path)
            _read_labels(self.path)
            if _metadata(self.path).get("flip_tta") == "True":
                from ..fer.model import FlipTTA

                self.model = FlipTTA(self.model)
        self.model.eval()
        self.labels = CANONICAL_LABELS
        self._torch = torch

    def predict(self, crops: np.ndarray) -> np.ndarray:
        x = _as_batch(crops)
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        with self._torch.inference_mode():
            logits = self.model(self._torch.from_numpy(x)).numpy()
        return softmax(logits).astype(np.float32)


def make_classifier(backend: str = "onnx", model_path: str | Path | None = None, threads: int = 1) -> Classifier:
    if backend == "onnx":
        return OnnxClassifier(model_path or None, threads)
    if backend == "torch":
        return TorchClassifier(model_path or None, threads)
    raise ValueError(f"unknown backend {backend!r} (onnx or torch)")
