"""Fine-tuning the encoder's top layers: only they change, they travel in the model file, and the
offline backend embeds with them."""

from __future__ import annotations

import numpy as np
import pytest
from semantic_affect.text.embedding import ENCODER_NAME, embed, encoder_key, load_encoder, new_encoder
from semantic_affect.text.finetune import apply_tuned, finetune, tuned_names
from semantic_affect.text.head import load_head

TEXTS = ["I am so happy for you!", "This is disgusting.", "I'm scared of the dark.", "Why would you do that?!",
         "I miss her so much.", "Wow, I did not expect that.", "It is on the table.", "Thank you, that's lovely."]
LABELS = [1, 5, 4, 6, 2, 3, 0, 1]  # MODEL_LABELS ids: happiness, disgust, fear, anger, sadness, surprise, neutral


@pytest.fixture(scope="module")
def tuned():
    import torch

    torch.manual_seed(0)
    model = new_encoder()
    before = {n: p.detach().clone() for n, p in model[0].auto_model.named_parameters()}
    y = np.eye(7, dtype=np.float32)[LABELS]
    arrays, f1, epoch = finetune(model, TEXTS * 4, np.tile(y, (4, 1)), TEXTS, y, layers=1, epochs=2, lr=5e-4,
                                 batch=8)
    return model, before, arrays, f1, epoch


def test_only_the_top_layers_change(tuned):
    model, before, arrays, f1, epoch = tuned
    names = tuned_names(model, 1)
    assert set(arrays) == set(names) and all(n.startswith("encoder.layer.5.") for n in names)
    changed = {n for n, p in model[0].auto_model.named_parameters() if not np.allclose(p.detach(), before[n])}
    assert changed and changed <= set(names)
    assert epoch in (1, 2) and 0.0 <= f1 <= 1.0
    assert not any(p.requires_grad for p in model[0].auto_model.parameters())  # frozen again for inference


def test_tuned_layers_are_checked_by_name_and_shape(tuned):
    model, _, arrays, _, _ = tuned
    name = next(iter(arrays))
    with pytest.raises(ValueError, match="not in the encoder"):
        apply_tuned(model, {"encoder.layer.9.bogus": arrays[name]})
    with pytest.raises(ValueError, match="has shape"):
        apply_tuned(model, {name: np.zeros((3, 3), np.float32)})
    with pytest.raises(ValueError, match=r"within 1\.\.6"):
        tuned_names(model, 7)


def test_head_file_carries_the_tuned_layers_and_the_backend_uses_them(tuned, tmp_path):
    from semantic_affect.text.offline import OfflineBackend

    _, _, arrays, _, _ = tuned
    head = load_head(None)
    head.meta.encoder_layers = 1  # the shipped head with these tuned layers instead of its own
    head.tuned = {k: v.astype(np.float16).astype(np.float32) for k, v in arrays.items()}
    head.save(tmp_path / "m")
    loaded = load_head(tmp_path / "m")
    assert loaded.meta.encoder_layers == 1 and set(loaded.tuned) == set(arrays)
    assert all(np.array_equal(loaded.tuned[k], head.tuned[k]) for k in arrays)
    backend = OfflineBackend(loaded, load_encoder(1, loaded.tuned))
    assert backend.encoder_key == encoder_key(loaded.tuned) != ENCODER_NAME
    plain = embed(TEXTS[:2])
    ours = backend.embed(TEXTS[:2])
    assert ours.shape == plain.shape and not np.allclose(ours, plain, atol=1e-3)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    meta = (tmp_path / "m.json").read_text().replace('"encoder_layers": 1', '"encoder_layers": 0')
    (tmp_path / "m.json").write_text(meta)
    with pytest.raises(ValueError, match="encoder_layers 0 but"):
        load_head(tmp_path / "m")
