"""Image message conversion: bgr8/rgb8/mono8 agree with each other and with rosbags-image; bad input raises."""

from __future__ import annotations

import numpy as np
import pytest
from emotion_perception.face.image_io import ImageError, RawImage, fill_msg, msg_to_array, raw, to_bgr, to_gray


def _frame(h: int = 24, w: int = 32) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_bgr_rgb_mono_agree() -> None:
    import cv2

    bgr = _frame()
    assert np.array_equal(to_bgr(raw(bgr, "bgr8")), bgr)
    assert np.array_equal(to_bgr(raw(bgr[:, :, ::-1], "rgb8")), bgr)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(to_gray(raw(bgr, "bgr8")), gray)
    assert np.array_equal(to_gray(raw(bgr[:, :, ::-1], "rgb8")), gray)
    assert np.array_equal(to_gray(raw(gray, "mono8")), gray)
    assert np.array_equal(to_bgr(raw(gray, "mono8")), np.repeat(gray[:, :, None], 3, axis=2))
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    assert np.array_equal(to_bgr(raw(bgra, "bgra8")), bgr)


def test_row_padding_and_big_endian_mono16() -> None:
    bgr = _frame(5, 7)
    step = 7 * 3 + 11
    data = np.zeros((5, step), np.uint8)
    data[:, :21] = bgr.reshape(5, 21)
    msg = RawImage(height=5, width=7, encoding="bgr8", step=step, data=data.tobytes())
    assert np.array_equal(to_bgr(msg), bgr)
    mono16 = (np.arange(35, dtype=np.uint16).reshape(5, 7) * 1000)
    msg = RawImage(5, 7, "mono16", 14, mono16.astype(">u2").tobytes(), is_bigendian=1)
    assert np.array_equal(msg_to_array(msg), mono16)
    assert np.array_equal(to_gray(msg), (mono16 >> 8).astype(np.uint8))


@pytest.mark.parametrize("msg, reason", [
    (RawImage(0, 0, "bgr8", 0, b""), "empty"),
    (RawImage(4, 4, "bgr8", 12, b"\x00" * 47), "bytes"),
    (RawImage(4, 4, "bgr8", 5, b"\x00" * 48), "step"),
    (RawImage(4, 4, "yuv422_weird", 8, b"\x00" * 32), "unsupported"),
    (RawImage(100_000, 100_000, "mono8", 100_000, b""), "too large"),
    (RawImage(-3, 4, "mono8", 4, b""), "empty"),
])
def test_bad_images_raise_clear_errors(msg: RawImage, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        to_gray(msg)


def test_matches_rosbags_image_on_real_messages() -> None:
    """An independent converter (rosbags-image) reads our sensor_msgs/Image the same way."""
    image_mod = pytest.importorskip("rosbags.image")
    from sensor_msgs.msg import Image

    bgr = _frame(6, 9)
    for enc, arr in (("bgr8", bgr), ("rgb8", bgr[:, :, ::-1]), ("mono8", bgr[:, :, 0])):
        msg = fill_msg(Image(), arr, enc)
        theirs = image_mod.message_to_cvimage(msg, "bgr8")
        assert np.array_equal(to_bgr(msg), theirs), enc
        assert np.array_equal(msg_to_array(msg), image_mod.message_to_cvimage(msg)), enc


def test_matches_cv_bridge_where_available() -> None:
    cv_bridge = pytest.importorskip("cv_bridge", reason="ROS cv_bridge only exists on a ROS distro install")
    from sensor_msgs.msg import Image

    bridge = cv_bridge.CvBridge()
    bgr = _frame(6, 9)
    for enc, arr in (("bgr8", bgr), ("rgb8", bgr[:, :, ::-1]), ("mono8", bgr[:, :, 0])):
        ours = fill_msg(Image(), arr, enc)
        theirs = bridge.cv2_to_imgmsg(arr, enc)
        assert (ours.height, ours.width, ours.step, bytes(ours.data)) == \
            (theirs.height, theirs.width, theirs.step, bytes(theirs.data))
        assert np.array_equal(to_bgr(theirs), bridge.imgmsg_to_cv2(theirs, "bgr8"))


def test_node_conversion_path_equals_numpy_path() -> None:
    """What face_emotion uses (cv_bridge where a working one exists) gives the numpy results."""
    from emotion_perception.face.image_io import msg_to_bgr_or_gray

    bgr = _frame(10, 14)
    for enc, arr in (("bgr8", bgr), ("rgb8", bgr[:, :, ::-1]), ("mono8", bgr[:, :, 1])):
        msg = raw(arr, enc)
        assert np.array_equal(msg_to_bgr_or_gray(msg, gray=True), to_gray(msg))
        assert np.array_equal(msg_to_bgr_or_gray(msg, gray=False), to_bgr(msg))
    with pytest.raises(ImageError):
        msg_to_bgr_or_gray(RawImage(4, 4, "bgr8", 12, b"\x00" * 10), gray=True)
