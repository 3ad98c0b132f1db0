"""The launch file and the in-process runner start the same nodes with the same parameters.

launch / launch_ros are not installable here (no wheels), so this test executes the real launch
file against recording stand-ins of those two third-party modules: every action the file creates
is captured with its arguments and compared with what `avatar-stack` would start.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
from avatar_bringup.graph import GraphError, load_definition, resolve, split_names
from avatar_bringup.supervisor import RESPAWN_DELAY_S

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "avatar.launch.py"
STUBBED = ["launch", "launch.actions", "launch.event_handlers", "launch.events", "launch.substitutions", "launch_ros",
           "launch_ros.actions", "launch_ros.event_handlers", "launch_ros.events", "launch_ros.events.lifecycle"]


class Recorded:
    """Base of every stand-in class: remembers how it was constructed."""

    created: ClassVar[list[Recorded]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        Recorded.created.append(self)

    def perform(self, context: dict[str, str]) -> str:  # LaunchConfiguration
        return context[self.args[0]]


class RecordingModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        cls = type(name, (Recorded,), {})
        setattr(self, name, cls)
        return cls


@pytest.fixture
def launch_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    for name in STUBBED:
        monkeypatch.setitem(sys.modules, name, RecordingModule(name))
    monkeypatch.setattr(sys.modules["launch.events"], "matches_action", lambda action: action, raising=False)
    spec = importlib.util.spec_from_file_location("avatar_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launched_nodes(module: types.ModuleType, values: dict[str, str]) -> tuple[dict[str, dict], list[Recorded]]:
    """Run generate_launch_description() and its OpaqueFunction; return node kwargs by name, all actions."""
    Recorded.created = []
    description = module.generate_launch_description()
    declared = {a.args[0]: a.kwargs["default_value"] for a in description.args[0] if type(a).__name__ ==
                "DeclareLaunchArgument"}
    context = {**declared, **values}
    opaque = next(a for a in description.args[0] if type(a).__name__ == "OpaqueFunction")
    actions = opaque.kwargs["function"](context)
    nodes = {a.kwargs["name"]: {**a.kwargs, "lifecycle": type(a).__name__ == "LifecycleNode"}
             for a in actions if type(a).__name__ in ("Node", "LifecycleNode")}
    return nodes, actions


def runner_nodes(profile: str, values: dict[str, str]) -> dict[str, dict]:
    """What avatar-stack starts for the same launch arguments (avatar_bringup.stack.node_kwargs)."""
    from avatar_bringup.stack import node_kwargs

    definition = load_definition()
    graph = resolve(profile, {k: v for k, v in values.items() if k in definition.arguments and v},
                    use_sim_time=values.get("use_sim_time") == "true",
                    only=split_names(values.get("only")), without=split_names(values.get("without")))
    out = {}
    for spec in graph.nodes:
        kwargs = node_kwargs(spec, graph.namespace, context=None)
        remaps = [tuple(a.split(":=")) for a in kwargs["cli_args"][2::2]]
        out[spec.name] = {"namespace": kwargs["namespace"], "lifecycle": spec.lifecycle,
                          "package": spec.package, "executable": spec.executable,
                          "parameters": {p.name: p.value for p in kwargs["parameter_overrides"]},
                          "remappings": remaps}
    return out


CASES = [(profile, {}) for profile in ("desktop", "unreal", "robot_head")] + [
    ("desktop", {"audio": "mic", "camera": "0", "use_sim_time": "true"}),
    ("robot_head", {"maestro": "/dev/ttyACM0", "audio": "talk.wav"}),
    ("unreal", {"osc": "off", "livelink": "off", "camera": "off"}),  # `osc:=` is refused by ros2launch
    ("desktop", {"only": "text_affect"}),  # one host's part of the graph
    ("unreal", {"only": "emotion_fusion,expression_synthesizer,face_bridge", "camera": "0"}),
    ("robot_head", {"without": "dashboard,text_affect", "maestro": "/dev/ttyACM0"}),
]


@pytest.mark.parametrize(("profile", "values"), CASES)
def test_launch_and_runner_start_the_same_graph(launch_module: types.ModuleType, profile: str,
                                                values: dict[str, str]) -> None:
    launched, _ = launched_nodes(launch_module, {"profile": profile, **values})
    expected = runner_nodes(profile, values)
    assert set(launched) == set(expected)
    for name, want in expected.items():
        got = launched[name]
        assert got["namespace"] == want["namespace"], name
        assert got["package"] == want["package"] and got["executable"] == want["executable"], name
        assert got["lifecycle"] == want["lifecycle"], name
        assert got["parameters"] == [want["parameters"]], name
        assert [tuple(r) for r in got["remappings"]] == want["remappings"], name
        assert got["respawn"] is True and got["respawn_delay"] == RESPAWN_DELAY_S, name


def test_launch_brings_lifecycle_nodes_up_and_records(launch_module: types.ModuleType) -> None:
    nodes, actions = launched_nodes(launch_module, {"profile": "desktop", "record": "true", "bag": "/tmp/s1"})
    lifecycle = [n for n, kw in nodes.items() if kw["lifecycle"]]
    assert lifecycle, "the desktop profile has lifecycle nodes"
    assert all(nodes[n]["arguments"] == ["--no-autostart"] for n in lifecycle), "launch drives their transitions"
    changes = [a for a in Recorded.created if type(a).__name__ == "ChangeState"]
    assert len(changes) == 2 * len(lifecycle)  # configure, then activate on reaching 'inactive'
    on_start = [a for a in Recorded.created if type(a).__name__ == "OnProcessStart"]
    assert {id(a.kwargs["target_action"]) for a in on_start} == {id(a) for a in actions if type(a).__name__ ==
                                                                 "LifecycleNode"}, "configured on every (re)start"
    bag = [a for a in actions if type(a).__name__ == "ExecuteProcess"]
    assert len(bag) == 1 and bag[0].kwargs["cmd"][:3] == ["ros2", "bag", "record"]
    assert "/tmp/s1" in bag[0].kwargs["cmd"]


def test_launch_declares_every_graph_argument(launch_module: types.ModuleType) -> None:
    Recorded.created = []
    description = launch_module.generate_launch_description()
    declared = {a.args[0] for a in description.args[0] if type(a).__name__ == "DeclareLaunchArgument"}
    assert set(load_definition().arguments) | {"profile", "namespace", "record", "use_sim_time"} <= declared


@pytest.mark.parametrize("values", [{"only": "text_afect"}, {"without": "face_bridge"}])
def test_launch_refuses_nodes_outside_the_profile(launch_module: types.ModuleType, values: dict[str, str]) -> None:
    with pytest.raises(GraphError, match="not in profile 'desktop'"):
        launched_nodes(launch_module, {"profile": "desktop", **values})
