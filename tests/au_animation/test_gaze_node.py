"""expression_synthesizer with real rclpy: face/head_gaze follows face/detections, look_at and CameraInfo."""

from __future__ import annotations

import contextlib
import math

import pytest
from au_animation.engine.gaze import load_gaze_table
from au_animation.engine.gaze_target import Camera, Face
from au_animation.expression_node import ExpressionSynthesizerNode
from avatar_msgs.msg import ActionUnits, FaceDetection, FaceDetections, HeadGaze
from geometry_msgs.msg import PointStamped
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo

pytestmark = pytest.mark.ros
LIM = load_gaze_table().limits


def gaze_deg(msg: HeadGaze) -> tuple[float, float]:
    return math.degrees(msg.head_yaw + msg.eye_yaw), math.degrees(msg.head_pitch + msg.eye_pitch)


def stamp(msg) -> tuple[int, int]:
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def test_head_gaze_follows_detections_with_the_action_unit_stamps(ros) -> None:
    node = ros.add(ExpressionSynthesizerNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("camera_hfov_deg", value=70.0), Parameter("life", value=False)])))
    gazes = ros.collect(HeadGaze, "face/head_gaze", depth=1000)
    frames = ros.collect(ActionUnits, "face/action_units", depth=1000)
    faces = ros.publisher(FaceDetections, "face/detections")
    ros.wait_for_subscribers(faces)
    ros.wait_for_messages(gazes, 5)
    box = FaceDetection(id="face_0", x=430, y=150, width=100, height=100, score=0.9)
    expected = Camera.from_fov(640, 480, 70.0).direction(Face(430, 150, 100, 100))
    assert expected[0] < -10.0  # right of the image: the character's right

    def settled() -> bool:
        faces.publish(FaceDetections(faces=[box]))
        return bool(gazes) and math.dist(gaze_deg(gazes[-1]), expected) < 1.0

    ros.spin_until(settled, 10.0, "gaze on the detected face")
    assert node.synth.gaze.state == "listening"
    both = {stamp(m) for m in frames} & {stamp(m) for m in gazes}
    assert len(both) >= 0.9 * min(len(frames), len(gazes))  # the same stamps on both topics
    for m in gazes:
        assert LIM.head_yaw[0] <= math.degrees(m.head_yaw) <= LIM.head_yaw[1]
        assert LIM.eye_yaw[0] <= math.degrees(m.eye_yaw) <= LIM.eye_yaw[1]

    # a look_at point overrides the faces; a NaN point is refused with a log line
    point = ros.publisher(PointStamped, "look_at")
    ros.wait_for_subscribers(point)
    bad = PointStamped()
    bad.point.x = math.nan
    point.publish(bad)
    target = PointStamped()
    target.point.x, target.point.y, target.point.z = 1.0, 0.3, 0.2
    want = (math.degrees(math.atan2(0.3, 1.0)), math.degrees(math.atan2(0.2, math.hypot(1.0, 0.3))))

    def on_point() -> bool:
        point.publish(target)
        return math.dist(gaze_deg(gazes[-1]), want) < 1.0

    ros.spin_until(on_point, 10.0, "gaze on the look_at point")


def test_camera_info_intrinsics_and_nobody_means_idle(ros) -> None:
    node = ros.add(ExpressionSynthesizerNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("face_lost_s", value=0.5), Parameter("life", value=False)])))
    gazes = ros.collect(HeadGaze, "face/head_gaze", depth=1000)
    faces = ros.publisher(FaceDetections, "face/detections")
    info = ros.publisher(CameraInfo, "camera/camera_info")
    ros.wait_for_subscribers(faces)
    ros.wait_for_subscribers(info)
    info.publish(CameraInfo(width=640, height=480, k=[0.0] * 9))  # uncalibrated: ignored
    k = [300.0, 0.0, 320.0, 0.0, 300.0, 240.0, 0.0, 0.0, 1.0]
    ros.spin_until(lambda: (info.publish(CameraInfo(width=640, height=480, k=k)), node._camera_k == k)[1], 5.0,
                   "camera info applied")
    box = FaceDetection(id="a", x=40, y=200, width=80, height=80)
    expected = Camera.from_k(k).direction(Face(40, 200, 80, 80))

    def settled() -> bool:
        faces.publish(FaceDetections(faces=[box]))
        return bool(gazes) and math.dist(gaze_deg(gazes[-1]), expected) < 1.0

    ros.spin_until(settled, 10.0, "gaze on the face with CameraInfo intrinsics")
    ros.spin_until(lambda: node.synth.gaze.state == "idle", 5.0, "idle once the face is gone")


def test_face_bridge_takes_head_gaze_to_live_link_and_neck_servos(ros) -> None:
    import socket

    from au_animation.bridge_node import FaceBridgeNode
    from livelink_reader import decode_livelink
    from trajectory_msgs.msg import JointTrajectory

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.05)
    node = ros.add(FaceBridgeNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("livelink", value=f"127.0.0.1:{receiver.getsockname()[1]}"),
        Parameter("joint_trajectory", value=True)])))
    trajectories = ros.collect(JointTrajectory, "head_controller/joint_trajectory", depth=500)
    aus = ros.publisher(ActionUnits, "face/action_units")
    gaze = ros.publisher(HeadGaze, "face/head_gaze")
    ros.wait_for_subscribers(aus)
    ros.wait_for_subscribers(gaze)
    pan = node.bridges.servo.map.joint_names().index("neck_pan_joint")
    rotations: list[float] = []

    def turned() -> bool:
        gaze.publish(HeadGaze(head_yaw=math.radians(15.0), eye_yaw=math.radians(5.0)))
        aus.publish(ActionUnits(names=["AU12"], intensities=[0.5]))
        with contextlib.suppress(TimeoutError):
            rotations[:] = decode_livelink(receiver.recv(4096))[1]
        return bool(rotations) and bool(trajectories) and trajectories[-1].points[0].positions[pan] > 0.25

    ros.spin_until(turned, 10.0, "Live Link rotations and the neck servo follow face/head_gaze")
    receiver.close()
    assert rotations[0] == pytest.approx(math.radians(15.0), abs=1e-5)
    assert rotations[3] == pytest.approx(math.radians(5.0), abs=1e-5)
