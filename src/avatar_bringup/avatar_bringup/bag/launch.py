"""Which recorder the launch file starts for `record:=true`: rosbag2 where installed, else avatar-bag.

A distro without rosbag2 (ros-<distro>-ros-base has no ros2bag) fails `ros2 bag record` with
"invalid choice: 'bag'"; this project's recorder writes the same bags with rclpy only.
"""

from __future__ import annotations

import importlib.util
import sys
import time


def rosbag2_available() -> bool:
    """True unless we know that `ros2` exists without its bag verb.

    `ros2 launch` always runs with ros2cli importable, so there this means "ros2bag is installed";
    outside a launch (tools that only inspect the launch file) it keeps rosbag2 as the default.
    """
    if importlib.util.find_spec("ros2cli") is None:
        return True
    return importlib.util.find_spec("ros2bag") is not None


def default_output() -> str:
    """rosbag2's default folder name: rosbag2_YYYY_MM_DD-HH_MM_SS."""
    return time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S")


def record_command(namespace: str, output: str = "", rosbag2: bool | None = None) -> list[str]:
    """The command that records every topic of `namespace` to an MCAP bag at `output`."""
    pattern = f"^{namespace.rstrip('/')}/.*"
    if rosbag2_available() if rosbag2 is None else rosbag2:
        return ["ros2", "bag", "record", "--storage", "mcap", "--regex", pattern,
                *(["--output", output] if output else [])]
    return [sys.executable, "-m", "avatar_bringup.bag_cli", "record", "--regex", pattern,
            "-o", output or default_output()]
