"""The node graph, defined once in config/graph.yaml, resolved for a profile.

Both `launch/avatar.launch.py` (ROS distro) and `avatar-stack` (one process, rclpy only) call
`resolve()`, so they start the same nodes with the same parameters and remappings. Pure module: no
rclpy, no launch imports.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_PROFILE = "desktop"
DEFAULT_NAMESPACE = "/avatar"
_REF = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


OFF = ("", "off")  # an argument value that switches its input or output off


class GraphError(ValueError):
    """A wrong profile, argument or parameter file: one line for the user, no traceback."""


class ArgumentDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: str = ""
    description: str


class NodeDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    package: str
    executable: str
    plugin: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    lifecycle: bool = False
    enabled_if: str | None = None
    parameters: dict[str, Any] = {}
    remappings: dict[str, str] = {}


class ProfileDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    nodes: list[str] = Field(min_length=1)
    arguments: dict[str, str] = {}
    parameters: dict[str, dict[str, Any]] = {}


class GraphDef(BaseModel):
    """Schema of config/graph.yaml."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = Field(ge=1, le=1)
    arguments: dict[str, ArgumentDef] = {}
    nodes: dict[str, NodeDef]
    profiles: dict[str, ProfileDef] = Field(min_length=1)

    def check(self) -> GraphDef:
        """Cross-references: profile nodes, parameter targets and argument references exist."""
        for pname, profile in self.profiles.items():
            for node in [*profile.nodes, *profile.parameters]:
                if node not in self.nodes:
                    raise GraphError(f"profile {pname!r} names unknown node {node!r}")
            for arg in profile.arguments:
                if arg not in self.arguments:
                    raise GraphError(f"profile {pname!r} sets unknown argument {arg!r}")
        for nname, node in self.nodes.items():
            refs = [node.enabled_if] if node.enabled_if else []
            refs += [m for v in node.parameters.values() if isinstance(v, str) for m in _REF.findall(v)]
            for ref in refs:
                if ref not in self.arguments:
                    raise GraphError(f"node {nname!r} refers to unknown argument {ref!r}")
        return self


@dataclass(frozen=True)
class NodeSpec:
    """One node to run: what both the launch file and the in-process runner start."""

    name: str
    package: str
    executable: str
    plugin: str
    lifecycle: bool
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Graph:
    profile: str
    namespace: str
    arguments: dict[str, str]
    nodes: tuple[NodeSpec, ...]


def default_definition_path() -> Path:
    return Path(str(files("avatar_bringup") / "config" / "graph.yaml"))


def load_definition(path: Path | None = None) -> GraphDef:
    """Read and validate a graph definition (default: the one shipped with avatar_bringup)."""
    path = path or default_definition_path()
    try:
        raw = yaml.safe_load(Path(path).read_text())
        return GraphDef.model_validate(raw).check()
    except (OSError, yaml.YAMLError) as exc:
        raise GraphError(f"cannot read graph definition {path}: {_first_line(exc)}") from None
    except ValidationError as exc:
        raise GraphError(f"invalid graph definition {path}: {_first_error(exc)}") from None


def resolve(
    profile: str = DEFAULT_PROFILE,
    arguments: Mapping[str, str] | None = None,
    params_file: str | Path | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    use_sim_time: bool = False,
    definition: GraphDef | None = None,
    only: Collection[str] = (),
    without: Collection[str] = (),
) -> Graph:
    """The nodes of `profile` with their final parameters.

    Precedence (last wins): node defaults < profile parameters < `params_file` (standard ROS 2
    parameter YAML: `node_name:` or `/**:` with `ros__parameters:`) < use_sim_time. Arguments:
    definition defaults < profile < `arguments`; a node whose `enabled_if` argument is empty or
    "off" is left out ("off" because `ros2 launch ... camera:=` with an empty value is refused).
    `only` / `without`: run part of the profile (one host runs perception, another expression);
    names outside the profile are an error, so a typo never silently runs the wrong part.
    """
    definition = definition or load_definition()
    if profile not in definition.profiles:
        raise GraphError(f"unknown profile {profile!r}; choose one of: {', '.join(definition.profiles)}")
    prof = definition.profiles[profile]
    args = {name: a.default for name, a in definition.arguments.items()}
    args.update(prof.arguments)
    for name, value in (arguments or {}).items():
        if name not in args:
            raise GraphError(f"unknown argument {name!r}; known: {', '.join(args) or 'none'}")
        args[name] = "" if value is None else str(value)
    namespace = _check_namespace(namespace)
    from_file = _read_params_file(params_file) if params_file else {}
    selected = _select(profile, prof.nodes, only, without)
    specs = []
    for name in selected:
        node = definition.nodes[name]
        if node.enabled_if and args[node.enabled_if].strip().lower() in OFF:
            continue
        params = {k: _substitute(v, args) for k, v in node.parameters.items()}
        params.update(prof.parameters.get(name, {}))
        for key in ("/**", name, f"{namespace.rstrip('/')}/{name}"):
            params.update(from_file.get(key, {}))
        if use_sim_time:
            params["use_sim_time"] = True
        specs.append(NodeSpec(name=name, package=node.package, executable=node.executable, plugin=node.plugin,
                              lifecycle=node.lifecycle, parameters=params,
                              remappings=tuple(sorted(node.remappings.items()))))
    if not specs:
        raise GraphError(f"no node of profile {profile!r} left to run (only/without and the switched-off inputs)")
    return Graph(profile=profile, namespace=namespace, arguments=args, nodes=tuple(specs))


def split_names(value: str | Sequence[str] | None) -> list[str]:
    """Node names from `a,b` (a launch argument) or repeated/comma-separated CLI values."""
    if value is None:
        return []
    parts = [value] if isinstance(value, str) else list(value)
    return [n.strip() for part in parts for n in part.split(",") if n.strip()]


def _select(profile: str, nodes: Sequence[str], only: Collection[str], without: Collection[str]) -> list[str]:
    for option, names in (("only", only), ("without", without)):
        unknown = [n for n in names if n not in nodes]
        if unknown:
            raise GraphError(f"{option}: {', '.join(map(repr, unknown))} not in profile {profile!r}; "
                             f"its nodes: {', '.join(nodes)}")
    return [n for n in nodes if (not only or n in only) and n not in without]


def describe(graph: Graph) -> str:
    """Human-readable listing for `avatar-stack --list`."""
    lines = [f"profile {graph.profile}, namespace {graph.namespace}, {len(graph.nodes)} nodes"]
    set_args = {k: v for k, v in graph.arguments.items() if v}
    if set_args:
        lines.append("arguments: " + ", ".join(f"{k}={v}" for k, v in set_args.items()))
    for spec in graph.nodes:
        kind = "lifecycle node" if spec.lifecycle else "node"
        lines.append(f"  {graph.namespace.rstrip('/')}/{spec.name}  ({kind} {spec.package}/{spec.executable},"
                     f" {spec.plugin})")
        for key, value in sorted(spec.parameters.items()):
            lines.append(f"      {key} = {value!r}")
        for src, dst in spec.remappings:
            lines.append(f"      remap {src} -> {dst}")
    return "\n".join(lines)


def _substitute(value: Any, args: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    return _REF.sub(lambda m: args[m.group(1)], value)


def _read_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise GraphError(f"cannot read parameter file {path}: {_first_line(exc)}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise GraphError(f"parameter file {path}: expected a mapping of node names, got {type(raw).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for node, body in raw.items():
        params = body.get("ros__parameters") if isinstance(body, dict) else None
        if not isinstance(params, dict):
            raise GraphError(f"parameter file {path}: node {node!r} needs a 'ros__parameters:' mapping")
        out[str(node)] = params
    return out


def _check_namespace(namespace: str) -> str:
    namespace = "/" + namespace.strip("/") if namespace.strip("/") else "/"
    if any(not _NAME.match(part) for part in namespace.strip("/").split("/") if part):
        raise GraphError(f"invalid namespace {namespace!r}: use lower-case letters, digits and '_'")
    return namespace


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"
