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

The `recorded` schedule instead replays a session recorded under sim time as it happened: /clock
is set to each recorded frame's stamp (the synthesizer ticks there) and to each input's log time
before delivering it. It is exact when the recorder logged every input at the clock value the
synthesizer saw on arrival (both under the same /clock, e.g. `avatar-bag play --clock-topics-all`)
and recorded from the synthesizer's first tick on (docs/sessions.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
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


SCHEDULES = ("grid", "recorded")


@dataclass(frozen=True)
class Plan:
    """How frames are ticked: on a grid (`start_ns + k * step_ns`) or at the recorded frames' stamps."""

    start_ns: int
    step_ns: int
    frames: int
    parameters: dict[str, Any] = field(default_factory=dict)
    schedule: str = "grid"

    def tick(self, k: int) -> int:
        return self.start_ns + k * self.step_ns

    def to_custom_data(self) -> dict[str, str]:
        return {KEY: json.dumps({"start_ns": self.start_ns, "step_ns": self.step_ns, "frames": self.frames,
                                 "parameters": self.parameters, "schedule": self.schedule}, sort_keys=True)}

    @classmethod
    def from_custom_data(cls, data: dict[str, str]) -> Plan | None:
        if KEY not in data:
            return None
        try:
            raw = json.loads(data[KEY])
            schedule = str(raw.get("schedule", "grid"))
            if schedule not in SCHEDULES:
                raise ValueError(f"unknown schedule {schedule!r}")
            return cls(int(raw["start_ns"]), int(raw["step_ns"]), int(raw["frames"]), dict(raw["parameters"]),
                       schedule)
        except (ValueError, KeyError, TypeError) as exc:
            raise BagError(f"metadata.yaml custom_data {KEY} is damaged ({exc})") from None


@dataclass(frozen=True)
class Step:
    """One thing the driver does: tick a frame (`topic` None) or deliver an input, with the sim clock at `clock_ns`."""

    clock_ns: int
    log_ns: int
    topic: str | None = None
    data: bytes = b""


def step_for(parameters: dict[str, Any]) -> int:
    rate = parameters.get("rate_hz", DEFAULT_RATE_HZ)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1.0 <= rate <= 1000.0:
        raise BagError(f"rate_hz must be a number in [1, 1000], got {rate!r}")
    return math.ceil(1e9 / float(rate))


def make_plan(recorded: Plan | None, input_times: Sequence[int], parameters: dict[str, Any] | None,
              linger_s: float, schedule: str | None = None, frame_stamps: Sequence[int] = ()) -> Plan:
    """The recorded plan (with `parameters` on top of its own) or a new one covering the inputs + linger.

    `schedule`: 'grid' or 'recorded' (default: the recorded plan's, else 'grid'); 'recorded' needs the
    recorded frames' stamps.
    """
    merged = {**(recorded.parameters if recorded else {}), **(parameters or {})}
    schedule = schedule or (recorded.schedule if recorded else "grid")
    if schedule == "recorded":
        if "rate_hz" in (parameters or {}):
            raise BagError("the recorded schedule replays the recorded ticks: rate_hz cannot change")
        if not frame_stamps:
            raise BagError(f"the recorded schedule needs the bag's {OUTPUT_TOPIC} frames; it has none")
        if any(b <= a for a, b in pairwise(frame_stamps)):
            raise BagError(f"the recorded {OUTPUT_TOPIC} stamps do not increase: not a sim-time session")
        return Plan(frame_stamps[0], 0, len(frame_stamps), merged, "recorded")
    step = step_for(merged)
    if recorded is not None and recorded.schedule == "grid" and recorded.step_ns == step:
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


def steps(plan: Plan, inputs: Sequence[tuple[int, str, bytes]], frame_stamps: Sequence[int] = ()) -> list[Step]:
    """The driver's steps for `plan`. Inputs are (log time, topic, data) in log-time order."""
    if plan.schedule == "recorded":
        # Frames before inputs at the same time: the synthesizer ticks as soon as /clock arrives.
        # Inputs before the first frame arrived before any /clock (clock 0: no /clock published).
        merged = sorted([(t, 0, i, None, b"") for i, t in enumerate(frame_stamps)]
                        + [(t, 1, i, topic, data) for i, (t, topic, data) in enumerate(inputs)],
                        key=lambda e: e[:3])
        return [Step(t if t >= plan.start_ns else 0, t, topic, data) for t, _, _, topic, data in merged]
    out = []
    for k, delivered in enumerate(group(inputs, plan)):
        out.append(Step(plan.tick(k), plan.tick(k)))
        # the j-th input after frame k is logged inside frame k's period, in delivery order
        out += [Step(plan.tick(k), plan.tick(k) + 1 + j, topic, data) for j, (topic, data) in enumerate(delivered)]
    return out


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
