"""fer-train (1 step, resume, init-from), fer-export, fer-eval and fer-predict on a tiny synthetic FER+-like folder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from avatar_common.emotion import CANONICAL_LABELS
from emotion_perception.face.classifier import OnnxClassifier, TorchClassifier
from emotion_perception.fer import eval_cli as fer_eval_cli
from emotion_perception.fer import export_cli as fer_export_cli
from emotion_perception.fer import predict_cli as fer_predict_cli
from emotion_perception.fer import train_cli as fer_train_cli
from emotion_perception.fer.data import FERPLUS_ORDER, load_split

PER_CLASS = 2


@pytest.fixture(scope="module")
def fake_ferplus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ImageFolder train/val with 2 noise images per class and vote CSVs in FER+ column order."""
    root = tmp_path_factory.mktemp("ferplus")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        rows = ["image," + ",".join(FERPLUS_ORDER) + ",unknown,NF,majority_label"]
        for cls in CANONICAL_LABELS:
            (root / split / cls).mkdir(parents=True)
            for i in range(PER_CLASS):
                name = f"{split}_{cls}_{i}.png"
                img = rng.integers(0, 256, (48, 48), dtype=np.uint8)
                cv2.imwrite(str(root / split / cls / name), img)
                votes = [8 if c == cls else 0 for c in FERPLUS_ORDER]
                votes[FERPLUS_ORDER.index("neutral")] += 2
                rows.append(name + "," + ",".join(map(str, votes)) + ",0,0," + cls)
        (root / f"{split}_votes.csv").write_text("\n".join(rows) + "\n")
    return root


def test_loader_maps_ferplus_columns_to_canonical(fake_ferplus: Path, tmp_path: Path) -> None:
    data = load_split(fake_ferplus, "train", tmp_path / "cache")
    assert data.images.shape == (8 * PER_CLASS, 48, 48)
    for y, soft, name in zip(data.labels, data.soft, data.names, strict=True):
        assert name.split("/")[0] == CANONICAL_LABELS[y]
        assert soft.argmax() == y or CANONICAL_LABELS[y] == "neutral"
        assert np.isclose(soft.sum(), 1.0)
        if CANONICAL_LABELS[y] != "neutral":
            assert np.isclose(soft[y], 0.8) and np.isclose(soft[CANONICAL_LABELS.index("neutral")], 0.2)
    again = load_split(fake_ferplus, "train", tmp_path / "cache")  # from the cache now
    assert np.array_equal(again.images, data.images) and np.array_equal(again.labels, data.labels)


def test_train_resume_export_eval_predict(fake_ferplus: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    common = ["--data", str(fake_ferplus), "--out", str(out), "--cache", str(tmp_path / "cache"),
              "--threads", "1", "--batch-size", "8", "--no-progress", "--soft-labels", "--ema", "0.99"]
    assert fer_train_cli.main(["--recipe", "v3", "--max-steps", "1", *common]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["steps"] == 1 and (out / "last.pt").exists() and (out / "best.pt").exists()
    assert fer_train_cli.main(["--recipe", "v3", "--max-steps", "3", "--resume", *common]) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["steps"] == 3 and second["epochs_done"] > first["epochs_done"]
    hist = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist][-1] == 3

    tuned = tmp_path / "tuned"  # fine-tune: the source's live weights, a fresh schedule (tiny lr: no change)
    assert fer_train_cli.main(["--recipe", "v3", "--max-steps", "1", "--init-from", str(out / "last.pt"),
                               "--lr", "1e-12", *common[:3], str(tuned), *common[4:]]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 1
    src, dst = (torch.load(d / "last.pt", weights_only=False)["model"] for d in (out, tuned))
    weights = [k for k, v in src.items() if v.ndim > 1]
    assert weights and all(torch.allclose(src[k], dst[k], atol=1e-6) for k in weights)
    assert fer_train_cli.main(["--init-from", str(tmp_path / "none.pt"), *common]) == 2

    onnx_path = tmp_path / "m.onnx"
    assert fer_export_cli.main([str(out / "best.pt"), "--out", str(onnx_path)]) == 0
    capsys.readouterr()
    crops = load_split(fake_ferplus, "val", tmp_path / "cache").images
    p_onnx = OnnxClassifier(onnx_path).predict(crops)
    p_ckpt = TorchClassifier(out / "best.pt").predict(crops)
    p_from_onnx = TorchClassifier(onnx_path).predict(crops)
    assert p_onnx.shape == (len(crops), 8) and np.allclose(p_onnx.sum(1), 1, atol=1e-5)
    assert np.allclose(p_onnx, p_ckpt, atol=1e-4) and np.allclose(p_onnx, p_from_onnx, atol=1e-4)

    tta_path = tmp_path / "tta.onnx"  # mirrored-crop averaging inside the graph: both backends agree
    assert fer_export_cli.main([str(out / "best.pt"), "--flip-tta", "--out", str(tta_path)]) == 0
    capsys.readouterr()
    flipped = crops[:, :, ::-1]
    p_tta = OnnxClassifier(tta_path).predict(crops)
    assert np.allclose(p_tta, TorchClassifier(tta_path).predict(crops), atol=1e-4)
    assert np.allclose(p_tta, OnnxClassifier(tta_path).predict(flipped), atol=1e-4)  # mirror-invariant

    png = tmp_path / "cm.png"
    assert fer_eval_cli.main(["--model", str(onnx_path), "--data", str(fake_ferplus), "--cache",
                              str(tmp_path / "cache"), "--confusion", str(png), "--threads", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 8 * PER_CLASS and 0 <= res["accuracy"] <= 1 and set(res["per_class_f1"]) == set(CANONICAL_LABELS)
    assert sum(map(sum, res["confusion"])) == 8 * PER_CLASS
    assert cv2.imread(str(png)) is not None

    assert fer_predict_cli.main([str(fake_ferplus / "val"), "--crops", "--model", str(onnx_path)]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 8 * PER_CLASS
    got = np.array([[r["probabilities"][c] for c in CANONICAL_LABELS] for r in rows])
    assert np.allclose(got, p_onnx, atol=1e-4)  # same file order (sorted) as the loader


def test_train_cli_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert fer_train_cli.main(["--recipe", "v9", "--out", str(tmp_path / "x")]) == 2
    assert fer_train_cli.main(["--recipe", "v1", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert fer_train_cli.main(["--recipe", "v1", "--lr", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown recipe" in capsys.readouterr().err


def test_recipes_follow_the_paper() -> None:
    from emotion_perception.fer.recipes import get_recipe

    v1, v2, v3 = (get_recipe(n) for n in ("v1", "v2", "v3"))
    assert (v1.optimizer, v1.dropout, v1.label_smoothing) == ("adam", 0.0, 0.0)
    assert v2.dropout == 0.5 and v2.epochs > v1.epochs
    assert v3.optimizer == "adamw" and v3.schedule == "cosine" and v3.label_smoothing > 0
    assert v3.aug.scale > 0 and v3.aug.translate > 0 and v3.aug.contrast > v1.aug.contrast


def test_augment_batch_shapes_and_range() -> None:
    from emotion_perception.fer.recipes import get_recipe
    from emotion_perception.fer.train import augment_batch

    imgs = torch.full((5, 48, 48), 128, dtype=torch.uint8)
    x = augment_batch(imgs, get_recipe("v3").aug, 64, torch.Generator().manual_seed(0))
    assert x.shape == (5, 1, 64, 64) and float(x.min()) >= 0 and float(x.max()) <= 1
    y = augment_batch(imgs, get_recipe("v3").aug, 64, torch.Generator().manual_seed(0))
    assert torch.equal(x, y)  # seeded


def test_pipeline_eval_counts_missed_faces_and_template_needs_faces(fake_ferplus: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    """Noise images hold no face: the whole pipeline finds none and scores 0 (a miss is wrong, never a
    free 'neutral'); the landmark template refuses to be measured from them."""
    from emotion_perception.fer import align_template_cli

    assert fer_eval_cli.main(["--pipeline", "mtcnn", "--data", str(fake_ferplus), "--cache", str(tmp_path / "c"),
                              "--threads", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["detected"] == 0.0 and res["accuracy"] == 0.0 and res["n"] == 8 * PER_CLASS
    assert res["pipeline"] == "mtcnn" and res["landmark_template"] is True
    out = tmp_path / "template.yaml"
    assert align_template_cli.main(["--data", str(fake_ferplus), "--cache", str(tmp_path / "c"), "--out",
                                    str(out)]) == 1
    assert "landmarks found in only 0 of" in capsys.readouterr().err and not out.exists()
