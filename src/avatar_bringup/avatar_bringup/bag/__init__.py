"""Sessions as rosbag2 (MCAP) bags: pure writer/reader/reindex/resynth logic (no rclpy imports).

The ROS side (recording with generic subscriptions, playback with /clock) lives in
avatar_bringup.bag_nodes; the command is avatar_bringup.bag_cli (`avatar-bag`).
"""

from avatar_bringup.bag.errors import BagError

__all__ = ["BagError"]
