"""camera node on real rclpy: a video file is published frame by frame, ends cleanly or loops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from emotion_perception.camera_node import CameraNode
from emotion_perception.face.image_io import to_bgr
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

pytestmark = pytest.mark.ros
FRAMES = 6


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for i in range(FRAMES):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, : (i + 1) * 10] = (0, 0, 255)  # red bar grows: the frames are told apart
        writer.write(frame)
    writer.release()
    return path


def _camera(ros, **params) -> CameraNode:
    return ros.add(CameraNode(**ros.node_kwargs(parameter_overrides=[
        Parameter(k, value=v) for k, v in params.items()])))


def test_file_plays_once_then_stops(ros, video: Path) -> None:
    images = ros.collect(Image, "camera/image_raw")
    node = _camera(ros, source=str(video), fps=60.0, width=0, height=0)
    ros.spin_until(lambda: node.state == "end of file", 20, "end of file")
    ros.wait_for_messages(images, FRAMES, timeout=5)
    ros.spin_for(0.3)
    assert len(images) == FRAMES and node.published == FRAMES
    bgr = to_bgr(images[2])
    assert bgr.shape == (48, 64, 3)
    assert bgr[24, 25, 2] > 200 and bgr[24, 35, 2] < 60  # frame 3: bar 30 px wide, red in BGR order


def test_loop_and_resize(ros, video: Path) -> None:
    images = ros.collect(Image, "camera/image_raw")
    _camera(ros, source=str(video), fps=100.0, loop=True, width=32, height=24)
    ros.wait_for_messages(images, FRAMES + 4, timeout=20)
    assert (images[0].width, images[0].height, images[0].encoding) == (32, 24, "bgr8")


def test_missing_source_and_bad_parameters_do_not_crash(ros, tmp_path: Path) -> None:
    node = _camera(ros, source=str(tmp_path / "nope.mp4"), fps=-5.0)
    ros.spin_for(0.2)
    assert node.state == "no source" and node.params.config.fps == 15.0
    node = ros.add(CameraNode(**ros.node_kwargs(node_name="camera2", parameter_overrides=[
        Parameter("source", value=97)])))  # an integer device index that does not exist
    ros.spin_for(0.5)
    assert node.source == "97" and node.state == "waiting for camera" and node.published == 0
