"""One node of the graph in its own process: what `avatar-stack --processes` starts per node.

    python -m avatar_bringup.node_process semantic_affect.text_affect_node:TextAffectNode [--strict] \\
        --ros-args -r __node:=text_affect -r __ns:=/avatar --params-file text_affect.yaml

The node class comes from the graph's `plugin`, so this works wherever the packages import (no
`ros2 run` or install layout needed); name, namespace, parameters and remappings are ordinary ROS
arguments, as `ros2 launch` passes them. A lifecycle node is configured and activated with the
same checked transitions as the in-process runner.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from avatar_bringup.supervisor import EXIT_CONFIG


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    parser = argparse.ArgumentParser(prog="avatar_bringup.node_process", description=__doc__.split("\n")[0])
    parser.add_argument("plugin", help="node class as 'module:Class' (graph.yaml's plugin)")
    parser.add_argument("--strict", action="store_true",
                        help=f"exit with status {EXIT_CONFIG} when a lifecycle node fails to come up")
    opts = parser.parse_args(argv[:cut])
    if opts.plugin.count(":") != 1:
        parser.exit(2, f"{parser.prog}: error: plugin must be 'module:Class', got {opts.plugin!r}\n")

    import rclpy
    from avatar_common.node_utils import bring_up
    from rclpy.executors import ExternalShutdownException

    from avatar_bringup.graph import GraphError, NodeSpec
    from avatar_bringup.stack import load_plugin

    try:
        cls = load_plugin(NodeSpec(name=opts.plugin, package="", executable="", plugin=opts.plugin, lifecycle=False))
    except GraphError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    rclpy.init(args=[parser.prog, *argv[cut:]])  # default handlers: SIGINT/SIGTERM end spin()
    node = None
    try:
        node = cls()
        failure = bring_up(node) if hasattr(node, "trigger_configure") else None
        if failure is not None:
            node.get_logger().error(f"{failure} failed; the node stays inactive (its diagnostics say why)")
            if opts.strict:
                return EXIT_CONFIG
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def console_main() -> None:
    """Exit without the interpreter's teardown (unloading torch took seconds): the supervisor's stop budget.

    A stop (SIGINT) that arrives while the node's modules are still importing is a normal stop too.
    """
    from avatar_bringup.stack_cli import exit_without_teardown

    try:
        code = main()
    except KeyboardInterrupt:
        code = 0
    exit_without_teardown(code)


if __name__ == "__main__":
    console_main()
