"""A node's own thread that publishes while Ctrl-C shuts the context down stops quietly (seen in CI as
a camera-thread traceback after `avatar-stack` stopped); any other publish error still raises."""

from __future__ import annotations

import pytest
from avatar_common.node_utils import publish_while_up


@pytest.mark.ros
def test_publish_while_up_stops_quietly_after_shutdown():
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from std_msgs.msg import String

    ctx = Context()
    rclpy.init(context=ctx)
    node = Node("publisher_thread", context=ctx)
    pub = node.create_publisher(String, "chatter", 1)
    try:
        assert publish_while_up(node, pub, String(data="up"))
        with pytest.raises(TypeError):  # a real fault while the context is up is not swallowed
            publish_while_up(node, pub, 42)
        rclpy.shutdown(context=ctx)
        assert publish_while_up(node, pub, String(data="after Ctrl-C")) is False
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
