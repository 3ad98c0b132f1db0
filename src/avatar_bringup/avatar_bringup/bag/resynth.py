"""Re-synthesis planning: which inputs reach the expression synthesizer at which frame, under sim time.

The synthesizer applies each input at the node-clock time it arrived and publishes one frame per
timer tick. Under sim time both are set by /clock, so the frames are a function of (tick times,
inputs with their arrival clock values). Re-synthesis fixes both on a grid:

- frame k is ticked at `start_ns + k * step_ns` (the driver publishes that /clock value and waits
  for the frame), `step_ns` = ceil(1e9 / rate_hz), so every clock step fires the timer once;
- an input whose log time falls in [tick k, tick k+1) is delivered after frame k while the clock
  still reads tick k (at most MAX_PER_FRAME per frame; more move to the next frame), so it first
  shows in frame k+1;
- the output bag logs the frames at their tick and the j-th input of frame k at tick k + 1 + j ns,
  and stores this plan (and the synthesizer's parameters) in metadata.yaml's custom_data.

Hence re-synthesising an output bag with its recorded plan and parameters reproduces its frames
exactly. A live recording is re-synthesised with its inputs moved onto the frame grid (by less
than one frame period).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from avatar_bringup.bag.errors import BagError

INPUT_TOPICS = ("affect/fused", "speech/user_speaking", "avatar/speaking")
OUTPUT_TOPIC = "face/action_units"
SYNTH_NODE = "expression_synthesizer"
DEFAULT_RATE_HZ = 60.0
MAX_PER_FRAME = 8  # below the synthesizer's subscription depth (10): nothing is dropped between frames
KEY = "avatar_resynth"


@dataclass(frozen=True)
class Plan:
    start_ns: int
    step_ns: int
    frames: int
    parameters: dict[str, Any] = field(default_factory=dict)

    def tick(self, k: int) -> int:
        return self.start_ns + k * self.step_ns

    def to_custom_data(self) -> dict[str, str]:
        return {KEY: json.dumps({"start_ns": self.start_ns, "step_ns": self.step_ns, "frames": self.frames,
                                 "parameters": self.parameters}, sort_keys=True)}

    @classmethod
    def from_custom_data(cls, data: dict[str, str]) -> Plan | None:
        if KEY not in data:
            return None
        try:
            raw = json.loads(data[KEY])
            return cls(int(raw["start_ns"]), int(raw["step_ns"]), int(raw["frames"]), dict(raw["parameters"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise BagError(f"metadata.yaml custom_data {KEY} is damaged ({exc})") from None


def step_for(parameters: dict[str, Any]) -> int:
    rate = parameters.get("rate_hz", DEFAULT_RATE_HZ)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1.0 <= rate <= 1000.0:
        raise BagError(f"rate_hz must be a number in [1, 1000], got {rate!r}")
    return math.ceil(1e9 / float(rate))


def make_plan(recorded: Plan | None, input_times: Sequence[int], parameters: dict[str, Any] | None,
              linger_s: float) -> Plan:
    """The recorded plan (with `parameters` on top of its own) or a new one covering the inputs + linger."""
    merged = {**(recorded.parameters if recorded else {}), **(parameters or {})}
    step = step_for(merged)
    if recorded is not None and recorded.step_ns == step:
        return Plan(recorded.start_ns, step, recorded.frames, merged)
    if not input_times:
        raise BagError(f"the bag has no synthesizer input ({', '.join(INPUT_TOPICS)})")
    start = min(input_times)
    frames = (max(input_times) - start) // step + 1 + math.ceil(linger_s * 1e9 / step)
    return Plan(start, step, frames, merged)


def group(inputs: Sequence[tuple[int, str, bytes]], plan: Plan) -> list[list[tuple[str, bytes]]]:
    """Inputs (log time, topic, data), in log-time order, per frame after which they are delivered."""
    groups: list[list[tuple[str, bytes]]] = [[] for _ in range(plan.frames)]
    k = 0
    for stamp, topic, data in inputs:
        k = max(k, min(plan.frames - 1, max(0, (stamp - plan.start_ns) // plan.step_ns)))
        while len(groups[k]) >= MAX_PER_FRAME and k < plan.frames - 1:
            k += 1
        groups[k].append((topic, data))
    return groups


def input_log_time(plan: Plan, k: int, j: int) -> int:
    """Where the j-th input delivered after frame k is logged: inside frame k's period, in delivery order."""
    return plan.tick(k) + 1 + j


def load_parameters(path: Path | str) -> dict[str, Any]:
    """The synthesizer's parameters from a ROS 2 parameter file (`/**:` and `expression_synthesizer:`)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BagError(f"--params {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise BagError(f"--params {path}: not a ROS 2 parameter file (expected 'node_name: ros__parameters:')")
    out: dict[str, Any] = {}
    for key in sorted(data, key=lambda k: k != "/**"):  # wildcard first, the node's own entries win
        if key == "/**" or str(key).rstrip("/").split("/")[-1] == SYNTH_NODE:
            params = (data[key] or {}).get("ros__parameters") if isinstance(data[key], dict) else None
            if not isinstance(params, dict):
                raise BagError(f"--params {path}: {key} has no ros__parameters mapping")
            out.update(params)
    return out


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """['mode=static', 'seed=3'] -> {'mode': 'static', 'seed': 3} (values parsed as YAML scalars)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BagError(f"bad --set {item!r} (expected NAME=VALUE)")
        out[name.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def namespace_of(topics: Sequence[str]) -> str:
    """The namespace whose affect/fused the bag holds ('' for the root namespace)."""
    suffix = "/" + INPUT_TOPICS[0]
    found = sorted({t[: -len(suffix)] for t in topics if t.endswith(suffix)})
    if not found:
        raise BagError(f"the bag has no .../{INPUT_TOPICS[0]} topic to re-synthesise")
    if len(found) > 1:
        raise BagError(f"several namespaces have {INPUT_TOPICS[0]}: {', '.join(found)} (use --namespace)")
    return found[0]
