"""face_bridge node under real rclpy: ActionUnits in -> JointTrajectory, Live Link, diagnostics out."""

from __future__ import annotations

import socket
import struct

import pytest

pytestmark = pytest.mark.ros


def test_node_bridges_action_units(ros) -> None:
    from au_animation.bridge_node import FaceBridgeNode
    from au_animation.bridges.servo import load_servo_map
    from avatar_msgs.msg import ActionUnits
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter
    from trajectory_msgs.msg import JointTrajectory

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    port = receiver.getsockname()[1]
    servo_map = load_servo_map("simple_head")
    overrides = [
        Parameter("livelink", value=f"127.0.0.1:{port}"),
        Parameter("joint_trajectory", value=True),
        Parameter("input_timeout", value=0.3),
        Parameter("curves", value="klingon"),  # invalid: logged, default used, no crash
    ]
    node = ros.add(FaceBridgeNode(**ros.node_kwargs(parameter_overrides=overrides)))
    assert node.bridges.config.curves == "metahuman"
    trajectories = ros.collect(JointTrajectory, "head_controller/joint_trajectory")
    diagnostics = ros.collect(DiagnosticArray, "/diagnostics")
    pub = ros.publisher(ActionUnits, "face/action_units")
    ros.wait_for_subscribers(pub)
    ros.wait_for_messages(trajectories, 1)
    first = trajectories[0]
    assert list(first.joint_names) == servo_map.joint_names()
    assert all(p == pytest.approx(0.0) for p in first.points[0].positions)  # neutral on start

    for _ in range(30):
        pub.publish(ActionUnits(names=["AU26", "AU12", "AU45"], intensities=[1.0, 0.8, float("nan")]))
        ros.spin_for(1 / 60)
    jaw = servo_map.joint_names().index("jaw_joint")
    jaw_channel = servo_map.channels[jaw]
    opened = [t.points[0].positions[jaw] for t in trajectories]
    assert max(opened) > 0.1
    top = jaw_channel.joint.scale * (jaw_channel.max - jaw_channel.neutral)
    assert all(0.0 - 1e-9 <= p <= top + 1e-9 for p in opened)

    packets = []
    while True:
        try:
            packets.append(receiver.recv(2048))
        except BlockingIOError:
            break
    receiver.close()
    assert len(packets) >= 25
    assert packets[-1][0] == 6 and packets[-1][-61 * 4 - 1] == 61
    jaw_open = struct.unpack_from(">f", packets[-1], len(packets[-1]) - 61 * 4 + 17 * 4)[0]
    assert jaw_open > 0.3

    # Input goes silent: the head returns to neutral.
    ros.spin_until(lambda: bool(trajectories) and abs(trajectories[-1].points[0].positions[jaw]) < 1e-9,
                   timeout=5.0, what="jaw back at neutral")
    ros.spin_until(lambda: any(s.name.endswith("face_bridge") for d in diagnostics for s in d.status),
                   timeout=3.0, what="diagnostics")
    status = next(s for d in diagnostics for s in d.status if s.name.endswith("face_bridge"))
    values = {kv.key: kv.value for kv in status.values}
    assert int(values["livelink.sent"]) >= 25 and values["livelink.errors"] == "0"
