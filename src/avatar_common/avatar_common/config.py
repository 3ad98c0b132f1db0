"""Node configuration as data: one dataclass per node, validated the same way everywhere.

A node's options are the fields of one dataclass in its pure core, each made with `param()`:
type (from the default), default, description, numeric limits, choices, and whether it can only be
set at start. The same class serves

- a CLI: `add_arguments(parser, Config)` adds one `--flag` per field, `from_namespace()` builds it;
- a parameter file or a mapping: `build(Config, values)`;
- a running node: `avatar_common.node_utils.NodeConfig` declares every field as a ROS parameter with a
  ParameterDescriptor (description, range, read-only, constraints text) and validates each change with
  `coerce()` before it is accepted.

A class may add a `problems(self) -> list[str]` method for checks that involve several fields; each
line starts with the field name and a colon (`"osc: no port"`), so a node can name the parameter.
No rclpy here: the module is usable from CLIs, notebooks and tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
KINDS = (bool, int, float, str)


class ConfigError(ValueError):
    """A value (or a set of values) that a configuration does not accept; the message says why."""


@dataclass(frozen=True)
class ParamSpec:
    """What a field accepts. `low`/`high` are inclusive; `start_only` fields are read-only at run time."""

    description: str
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    start_only: bool = False

    def constraints(self) -> str:
        """Human-readable limits, for `--help` and ParameterDescriptor.additional_constraints."""
        parts = []
        if self.choices:
            parts.append("one of: " + ", ".join(self.choices))
        if self.low is not None or self.high is not None:
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            parts.append(f"range [{low}, {high}]")
        if self.start_only:
            parts.append("start-only (read-only while running)")
        return "; ".join(parts)


def param(default: Any, description: str, *, low: float | None = None, high: float | None = None,
          choices: Sequence[str] | None = None, start_only: bool = False) -> Any:
    """A dataclass field of a node configuration (see the module docstring)."""
    kind = type(default)
    if kind not in KINDS:
        raise TypeError(f"param default {default!r}: only bool, int, float and str are parameters")
    spec = ParamSpec(description, kind, low, high, tuple(choices) if choices else None, start_only)
    problem = _check(spec, default)
    if problem:
        raise TypeError(f"param default {default!r} is itself invalid: {problem}")
    return field(default=default, metadata={"param": spec})


def specs(cls: type) -> dict[str, ParamSpec]:
    """Field name -> ParamSpec, in declaration order."""
    out = {}
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("param")
        if spec is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with param()")
        out[f.name] = spec
    return out


def default(cls: type, name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def coerce(spec: ParamSpec, value: Any) -> Any:
    """`value` converted to the field's type and checked; ConfigError with the reason otherwise.

    An int is accepted for a float field (`rate_hz:=30`) and for a string field (`source: 0`, a
    device index in YAML), never a bool for a number; a string only for a string field (a CLI passes
    numbers already converted by argparse).
    """
    if spec.kind in (float, str) and isinstance(value, int) and not isinstance(value, bool):
        value = spec.kind(value)
    if type(value) is not spec.kind:
        raise ConfigError(f"expected {spec.kind.__name__}, got {type(value).__name__} {value!r}")
    problem = _check(spec, value)
    if problem:
        raise ConfigError(problem)
    return value


def _check(spec: ParamSpec, value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if spec.low is not None and value < spec.low:
        return f"{value!r} is below the minimum {spec.low:g}"
    if spec.high is not None and value > spec.high:
        return f"{value!r} is above the maximum {spec.high:g}"
    if spec.choices is not None and value not in spec.choices:
        return f"{value!r} is not one of {', '.join(spec.choices)}"
    return None


def problems(config: Any) -> list[str]:
    """Every problem of a configuration instance, one line each as 'field: reason' (empty = valid)."""
    out = []
    for name, spec in specs(type(config)).items():
        try:
            coerce(spec, getattr(config, name))
        except ConfigError as exc:
            out.append(f"{name}: {exc}")
    extra = getattr(config, "problems", None)
    if callable(extra) and not out:
        out.extend(extra())
    return out


def build(cls: type[T], values: Mapping[str, Any] | None = None) -> T:
    """A validated configuration from `values` on top of the defaults; ConfigError lists every problem.

    Unknown names are problems too (a misspelt parameter is a mistake, not a no-op).
    """
    values = dict(values or {})
    table = specs(cls)
    found = [f"{name}: unknown option" for name in values if name not in table]
    converted = {}
    for name, value in values.items():
        if name in table:
            try:
                converted[name] = coerce(table[name], value)
            except ConfigError as exc:
                found.append(f"{name}: {exc}")
    if found:
        raise ConfigError("; ".join(found))
    config = cls(**converted)
    found = problems(config)
    if found:
        raise ConfigError("; ".join(found))
    return config


def salvage(cls: type[T], values: Mapping[str, Any]) -> tuple[T, list[str]]:
    """Like build(), but every invalid or unknown value is replaced by its default: (config, problems).

    For nodes: a bad value in a parameter file is one log line and the default, never a crash.
    """
    table = specs(cls)
    found, good = [], {}
    for name, value in values.items():
        if name not in table:
            found.append(f"{name}: unknown option, ignored")
            continue
        try:
            good[name] = coerce(table[name], value)
        except ConfigError as exc:
            found.append(f"{name}: {exc}; using the default {default(cls, name)!r}")
    config = cls(**good)
    for line in problems(config):  # cross-field problems: fall back to the defaults of the named field
        name = line.split(":", 1)[0]
        found.append(f"{line}; using the default")
        if name in table:
            config = dataclasses.replace(config, **{name: default(cls, name)})
    return config, found


def replace(config: T, changes: Mapping[str, Any]) -> T:
    """A new validated configuration with `changes` applied; ConfigError (nothing applied) if any is bad."""
    merged = {name: getattr(config, name) for name in specs(type(config))}
    merged.update(changes)
    return build(type(config), merged)


def changed(old: Any, new: Any) -> set[str]:
    return {name for name in specs(type(old)) if getattr(old, name) != getattr(new, name)}


# -- command line -----------------------------------------------------------------------------------
def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type, only: Iterable[str] | None = None) -> None:
    """One option per field (`--osc-rate-hz` for `osc_rate_hz`), default None = the dataclass default."""
    wanted = set(only) if only is not None else None
    for f in dataclasses.fields(cls):
        if wanted is not None and f.name not in wanted:
            continue
        spec: ParamSpec = f.metadata["param"]
        text = spec.description + (f" ({spec.constraints()})" if spec.constraints() else "")
        text += f"; default {f.default!r}"
        if spec.kind is bool:
            parser.add_argument(flag(f.name), dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                                help=text)
        else:
            parser.add_argument(flag(f.name), dest=f.name, default=None, type=spec.kind,
                                choices=spec.choices, metavar=f.name.upper(), help=text)


def from_namespace(cls: type[T], namespace: argparse.Namespace, base: T | None = None) -> T:
    """The configuration the parsed options ask for (options left out keep `base` or the defaults)."""
    values = {name: getattr(base, name) for name in specs(cls)} if base is not None else {}
    for name in specs(cls):
        value = getattr(namespace, name, None)
        if value is not None:
            values[name] = value
    return build(cls, values)
