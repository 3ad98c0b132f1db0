"""Launch the avatar face stack on a ROS 2 distro (Humble, Jazzy, Kilted).

    ros2 launch avatar_bringup avatar.launch.py [profile:=desktop|unreal|robot_head] [namespace:=/avatar]
        [record:=true] [use_sim_time:=true] [params_file:=my_params.yaml] [audio:=mic] [camera:=0] ...
        [only:=text_affect,emotion_fusion] [without:=dashboard]

The nodes, their parameters and remappings come from avatar_bringup.graph.resolve(), the same
definition `avatar-stack` runs in one process. Lifecycle nodes are configured and activated
automatically, after every start: nodes are respawned when they die (as `avatar-stack --processes`).
"""

from __future__ import annotations

from avatar_bringup.bag.launch import record_command
from avatar_bringup.graph import DEFAULT_NAMESPACE, DEFAULT_PROFILE, load_definition, resolve, split_names
from avatar_bringup.supervisor import RESPAWN_DELAY_S
from avatar_common.node_utils import NO_AUTOSTART
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, ExecuteProcess, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessStart
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

BASE_ARGUMENTS = {
    "profile": (DEFAULT_PROFILE, "graph profile from avatar_bringup/config/graph.yaml"),
    "namespace": (DEFAULT_NAMESPACE, "namespace of all nodes"),
    "params_file": ("", "ROS 2 parameter YAML applied on top of the profile"),
    "use_sim_time": ("false", "all nodes follow /clock"),
    "record": ("false", "record the session's topics to an MCAP bag (ros2 bag record, or avatar-bag without rosbag2)"),
    "bag": ("", "output folder of the recording (default: ros2 bag's timestamped name)"),
    "only": ("", "run only these nodes of the profile, comma-separated (e.g. one host's part of the graph)"),
    "without": ("", "run the profile without these nodes, comma-separated"),
}


def generate_launch_description() -> LaunchDescription:
    definition = load_definition()
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, (default, text) in BASE_ARGUMENTS.items()]
    # Graph arguments default to "" = the profile's value, else the graph's default; "off" switches one off.
    declared += [DeclareLaunchArgument(name, default_value="",
                                       description=f"{arg.description} (default: the profile's, else {arg.default!r})")
                 for name, arg in definition.arguments.items()]
    return LaunchDescription([*declared, OpaqueFunction(function=_graph_actions)])


def _graph_actions(context, *args, **kwargs):
    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    definition = load_definition()
    graph = resolve(
        profile=value("profile"),
        # Only arguments given a value: an empty one keeps the profile's setting (e.g. unreal's osc).
        arguments={name: value(name) for name in definition.arguments if value(name)},
        params_file=value("params_file") or None,
        namespace=value("namespace"),
        use_sim_time=value("use_sim_time").lower() in ("1", "true", "yes"),
        definition=definition,
        only=split_names(value("only")),
        without=split_names(value("without")),
    )
    actions = []
    for spec in graph.nodes:
        node_args = {
            "package": spec.package,
            "executable": spec.executable,
            "name": spec.name,
            "namespace": graph.namespace,
            "parameters": [spec.parameters],
            "remappings": list(spec.remappings),
            "output": "screen",
            "respawn": True,  # as avatar-stack --processes restarts a node that dies
            "respawn_delay": RESPAWN_DELAY_S,
        }
        if not spec.lifecycle:
            actions.append(Node(**node_args))
            continue
        node = LifecycleNode(**node_args, arguments=[NO_AUTOSTART])  # the events below bring it up
        actions += [
            node,
            RegisterEventHandler(OnStateTransition(
                target_lifecycle_node=node, goal_state="inactive",
                entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                      transition_id=Transition.TRANSITION_ACTIVATE))])),
            # on every start, the respawns included: a respawned lifecycle node is configured again
            RegisterEventHandler(OnProcessStart(
                target_action=node,
                on_start=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                                      transition_id=Transition.TRANSITION_CONFIGURE))])),
        ]
    if value("record").lower() in ("1", "true", "yes"):
        # ros2 bag record where rosbag2 is installed, else this project's recorder (same bag format)
        actions.append(ExecuteProcess(cmd=record_command(graph.namespace, value("bag")), output="screen"))
    return actions
