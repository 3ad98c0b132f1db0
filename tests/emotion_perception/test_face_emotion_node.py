"""face_emotion node on real rclpy: astronaut -> happiness on affect/face; no face -> nothing; bad images survive."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from avatar_msgs.msg import EmotionState, FaceDetections
from emotion_perception.face.image_io import fill_msg
from emotion_perception.face_emotion_node import FaceEmotionNode
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from skimage import data

pytestmark = pytest.mark.ros


def _img(arr: np.ndarray, enc: str) -> Image:
    return fill_msg(Image(), arr, enc)


def test_face_emotion_node(ros) -> None:
    node = FaceEmotionNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("max_rate_hz", value=50.0), Parameter("debug_image", value=True)]))
    ros.add(node)
    node.trigger_configure()
    node.trigger_activate()
    emotions = ros.collect(EmotionState, "affect/face")
    detections = ros.collect(FaceDetections, "face/detections")
    debug = ros.collect(Image, "face/debug_image")
    pub = ros.publisher(Image, "camera/image_raw")
    ros.wait_for_subscribers(pub)

    # no face: the frame is processed (detections with no faces) but no emotion is made up
    pub.publish(_img(np.full((480, 640, 3), 100, np.uint8), "bgr8"))
    ros.wait_for_messages(detections, 1, timeout=20)
    assert list(detections[0].faces) == []
    ros.spin_for(0.3)
    assert emotions == []

    # corrupt, 0-size and wrong-encoding messages: dropped, the node keeps working
    bad = Image(height=480, width=640, encoding="bgr8", step=1920, data=b"\x00" * 100)
    pub.publish(bad)
    ros.spin_for(0.2)
    pub.publish(Image(height=0, width=0, encoding="rgb8", step=0))
    ros.spin_for(0.2)
    pub.publish(Image(height=4, width=4, encoding="32FC1", step=16, data=b"\x00" * 64))
    ros.spin_until(lambda: node.stats["bad_images"] >= 3, 10, "3 bad images counted")

    # the astronaut, as rgb8 (the photo's own channel order): happiness, with a stable face id
    rgb = data.astronaut()
    pub.publish(_img(rgb, "rgb8"))
    ros.wait_for_messages(emotions, 1, timeout=20)
    msg = emotions[0]
    assert msg.source == "face"
    weights = dict(zip(msg.labels, msg.weights, strict=True))
    assert max(weights, key=weights.get) == "happiness", weights
    assert abs(sum(msg.weights) - 1) < 1e-3 and 0 < msg.confidence <= 1 and msg.valence > 0
    pub.publish(_img(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), "mono8"))
    ros.wait_for_messages(emotions, 2, timeout=20)
    ros.spin_until(lambda: sum(1 for d in detections if d.faces) >= 2, 10, "2 detections with a face")
    faces = [d for d in detections if d.faces]
    assert faces[0].faces[0].id == faces[1].faces[0].id != ""
    ros.wait_for_messages(debug, 1, timeout=10)
    assert debug[-1].encoding == "bgr8" and debug[-1].width == 512
    node.trigger_deactivate()
