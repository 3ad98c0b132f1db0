"""The dashboard node with real rclpy: topics in, the page's WebSocket out, typed text back into the graph."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import cv2
import numpy as np
import pytest
from avatar_msgs.msg import ActionUnits, EmotionState, FaceDetection, FaceDetections, HeadGaze, Utterance
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

websocket = pytest.importorskip("websocket")
pytestmark = pytest.mark.ros


def make_node(ros, **params):
    from avatar_bringup.dashboard_node import DashboardNode

    overrides = [Parameter(k, value=v) for k, v in {"port": 0, **params}.items()]
    node = ros.add(DashboardNode(**ros.node_kwargs(parameter_overrides=overrides)))
    node.trigger_configure()
    node.trigger_activate()
    return node


def recv_json(ws, ros, predicate, timeout: float = 10.0) -> dict:
    """Spin the graph while waiting for a page message that matches."""
    end = time.monotonic() + timeout
    ws.settimeout(0.02)
    while time.monotonic() < end:
        ros.spin_for(0.02)
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            continue
        if predicate(message):
            return message
    raise TimeoutError("no matching page message")


def test_topics_reach_the_page_and_the_text_box_reaches_the_graph(ros) -> None:
    node = make_node(ros, preview=True, preview_size=96, preview_rate_hz=20.0)
    utterances = ros.collect(Utterance, "speech/utterance")
    previews = ros.collect(Image, "face/preview")
    au_pub = ros.publisher(ActionUnits, "face/action_units")
    fused_pub = ros.publisher(EmotionState, "affect/fused")
    gaze_pub = ros.publisher(HeadGaze, "face/head_gaze")
    ros.wait_for_subscribers(au_pub)
    ws = websocket.create_connection(node.url.replace("http://", "ws://") + "ws", timeout=10)
    try:
        assert json.loads(ws.recv())["type"] == "hello"
        fused_pub.publish(EmotionState(source="fused", labels=["happiness", "sadness"], weights=[0.7, float("nan")],
                                       valence=0.6, arousal=0.2, confidence=0.9))
        au_pub.publish(ActionUnits(names=["AU06", "AU12"], intensities=[0.4, 0.8]))
        sections: dict = {}
        recv_json(ws, ros, lambda m: sections.update(m.get("sections", {})) or {"aus", "emotions"} <= set(sections))
        assert sections["emotions"]["fused"]["weights"]["happiness"] == pytest.approx(0.7, abs=1e-3)
        assert sections["emotions"]["fused"]["weights"]["sadness"] == 0.0  # NaN sanitised
        assert sections["aus"]["values"] == {"AU06": 0.4, "AU12": 0.8}
        assert len(sections["aus"]["channels"]) == 42  # the face model's channels for the page
        gaze_pub.publish(HeadGaze(head_yaw=0.2, eye_yaw=0.3))
        update = recv_json(ws, ros, lambda m: m.get("sections", {}).get("aus", {}).get("eye") == [0.3, 0.0])
        assert update["sections"]["aus"]["head"] == [0.2, 0.0, 0.0]
        assert update["sections"]["aus"]["channels"][-2] == pytest.approx(0.3)  # gaze_yaw drives the irises

        ws.send(json.dumps({"type": "say", "text": "hello from the page"}))
        said = recv_json(ws, ros, lambda m: m["type"] == "said")
        ros.wait_for_messages(utterances, 1, timeout=10)
        assert (utterances[0].text, utterances[0].id, utterances[0].final) == ("hello from the page", said["id"], True)

        ros.wait_for_messages(previews, 1, timeout=10)
        frame = previews[-1]
        assert (frame.width, frame.height, frame.encoding) == (96, 96, "rgb8") and len(frame.data) == 96 * 96 * 3
    finally:
        ws.close()


def test_rates_are_tunable_and_bad_values_refused(ros) -> None:
    node = make_node(ros)
    assert node.set_parameters([Parameter("ui_rate_hz", value=5.0)])[0].successful
    assert node.server.rates.ui_hz == 5.0
    assert not node.set_parameters([Parameter("au_rate_hz", value=500.0)])[0].successful
    assert node.server.rates.au_hz == 60.0
    assert not node.set_parameters([Parameter("port", value=9999)])[0].successful  # start-only


def test_a_busy_port_leaves_the_node_running_without_a_page(ros) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        node = make_node(ros, port=port)
        assert node.server is None and str(port) in node.server_error
        level, message, _ = node._check()
        assert level == 2 and "cannot serve" in message
        au_pub = ros.publisher(ActionUnits, "face/action_units")
        ros.wait_for_subscribers(au_pub)
        au_pub.publish(ActionUnits(names=["AU12"], intensities=[0.5]))
        ros.spin_until(lambda: node.state.snapshot().get("aus", {}).get("values") == {"AU12": 0.5}, 5,
                       "the AU frame stored")


def test_camera_image_and_face_boxes_reach_the_page(ros) -> None:
    from emotion_perception.face.image_io import fill_msg
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    node = make_node(ros, image_rate_hz=20.0)
    qos = QoSProfile(depth=1)
    qos.reliability = ReliabilityPolicy.BEST_EFFORT
    image_pub = ros.tester.create_publisher(Image, "camera/image_raw", qos)
    boxes_pub = ros.publisher(FaceDetections, "face/detections")
    ros.wait_for_subscribers(boxes_pub)
    ws = websocket.create_connection(node.url.replace("http://", "ws://") + "ws", timeout=10)
    try:
        ws.recv()  # hello
        frame = np.zeros((480, 640, 3), dtype=np.uint8)
        frame[100:300, 200:400] = (0, 0, 255)  # a red square (BGR)
        image_pub.publish(fill_msg(Image(), frame, "bgr8"))
        ros.spin_until(lambda: node.state.latest_image() is not None, 10, "the camera frame")
        boxes_pub.publish(FaceDetections(faces=[FaceDetection(id="face-1", x=200, y=100, width=200, height=200,
                                                              score=0.9)]))
        sections: dict = {}
        recv_json(ws, ros, lambda m: sections.update(m.get("sections", {})) or {"image", "detections"} <= set(sections))
        assert sections["detections"] == {"faces": [{"id": "face-1", "x": 200, "y": 100, "width": 200, "height": 200,
                                                     "score": 0.9}], "width": 640, "height": 480}
        with urllib.request.urlopen(node.url + f"camera.jpg?v={sections['image']['version']}") as r:
            jpeg = cv2.imdecode(np.frombuffer(r.read(), dtype=np.uint8), cv2.IMREAD_COLOR)
        assert jpeg.shape == (240, 320, 3)  # downscaled to image_width
        b, g, red = jpeg[100, 150].astype(int)
        assert red > 200 and g < 60 and b < 60  # the square, in the right place and colour
    finally:
        ws.close()
