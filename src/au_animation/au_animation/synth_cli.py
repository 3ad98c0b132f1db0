"""au-synth: emotion weights over time -> AU (or ARKit / MetaHuman) curve frames as JSONL or CSV.

Works without ROS. Examples:

    au-synth --emotion happiness=0.7 --emotion surprise=0.4 --duration 3
    au-synth --timeline talk.jsonl --curves arkit --format csv --output talk.csv

Timeline (JSONL, one event per line, '#' comments allowed), applied at its time `t` (seconds):

    {"t": 0.0, "weights": {"happiness": 0.6}}
    {"t": 1.5, "weights": {"happiness": 0.6}, "micro_expression": "disgust", "micro_intensity": 0.8}
    {"t": 2.0, "user_speaking": true}
    {"t": 3.0, "avatar_speaking": true}
    {"t": 3.5, "look_at": {"yaw": 20, "pitch": -5}}
    {"t": 4.0, "weights": {}, "look_at": null}

`weights` replaces the current estimate (labels not listed fall to 0); the other keys are optional.
`look_at` is the person's direction in degrees (yaw > 0 to the character's left, pitch > 0 up) or null
(nobody there: idle glances); before the first one nobody is there.
Output rows: {"t": seconds, "curves": {name: value}, "head_gaze": {name: degrees}} (JSONL) or
t,name,...,head_yaw,...,eye_pitch (CSV). Every frame carries head_yaw, head_pitch, head_roll, eye_yaw,
eye_pitch in degrees (gaze = head + eye), apart from the curves, so "curves" stay AU intensities
(`--curves au`) or rig curves; `--curves arkit` gives the 52 blendshapes (eyeLook* from the eye angles)
and Live Link Face's nine rotation slots (headYaw ... rightEyeRoll, radians), `--curves metahuman` the
CTRL_expressions curves (eyeLook* included).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from avatar_common.emotion import sanitize

from au_animation.engine import MODES, PROFILES, Synthesizer
from au_animation.retarget import HEAD_GAZE_NAMES, MAPS, load_head_gaze, load_retarget

EVENT_KEYS = {"t", "weights", "micro_expression", "micro_intensity", "user_speaking", "avatar_speaking", "look_at"}


@dataclass
class Event:
    t: float
    weights: dict[str, float] | None = None
    micro_expression: str = ""
    micro_intensity: float = 0.0
    user_speaking: bool | None = None
    avatar_speaking: bool | None = None
    look_at: tuple[float, float] | None = None
    look_at_given: bool = False  # "look_at": null (nobody) differs from no look_at key
    order: int = 0


def parse_emotion(text: str) -> tuple[str, float]:
    """'happiness=0.7' -> ('happiness', 0.7)."""
    name, sep, value = text.partition("=")
    try:
        weight = float(value)
    except ValueError:
        weight = math.nan
    if not sep or not name.strip() or not math.isfinite(weight):
        raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT (e.g. happiness=0.7), got {text!r}")
    return name.strip(), weight


def parse_look_at(value: object) -> tuple[float, float] | None:
    """{"yaw": deg, "pitch": deg} (pitch optional) or None; ValueError otherwise."""
    if value is None:
        return None
    if not isinstance(value, dict) or "yaw" not in value or set(value) - {"yaw", "pitch"}:
        raise ValueError('look_at must be {"yaw": deg, "pitch": deg} or null')
    angles = (value["yaw"], value.get("pitch", 0.0))
    if any(isinstance(a, bool) or not isinstance(a, int | float) or not math.isfinite(a) for a in angles):
        raise ValueError("look_at yaw and pitch must be finite numbers (degrees)")
    return float(angles[0]), float(angles[1])


def read_timeline(lines: Iterator[str], source: str = "timeline") -> list[Event]:
    """Parse timeline JSONL into events sorted by time (stable). Raises ValueError with the line number."""
    events: list[Event] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            unknown = set(row) - EVENT_KEYS
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}")
            t = float(row["t"])
            if not math.isfinite(t) or t < 0.0:
                raise ValueError("t must be a finite time >= 0")
            weights = row.get("weights")
            if weights is not None and not isinstance(weights, dict):
                raise ValueError("weights must be an object {label: weight}")
            events.append(Event(
                t=t, weights=weights, micro_expression=str(row.get("micro_expression") or ""),
                micro_intensity=float(row.get("micro_intensity", 0.0) or 0.0),
                user_speaking=None if row.get("user_speaking") is None else bool(row["user_speaking"]),
                avatar_speaking=None if row.get("avatar_speaking") is None else bool(row["avatar_speaking"]),
                look_at=parse_look_at(row.get("look_at")), look_at_given="look_at" in row,
                order=len(events),
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{source}:{number}: {exc}") from exc
    return sorted(events, key=lambda e: (e.t, e.order))


def apply_event(synth: Synthesizer, event: Event) -> None:
    if event.look_at_given:
        synth.set_look_at(*(event.look_at or (None, None)))
    if event.user_speaking is not None:
        synth.set_user_speaking(event.user_speaking, event.t)
    if event.avatar_speaking is not None:
        synth.set_avatar_speaking(event.avatar_speaking, event.t)
    if event.weights is not None:
        synth.set_weights(event.weights, event.t, micro_expression=event.micro_expression,
                          micro_intensity=event.micro_intensity)
    elif event.micro_expression:
        synth.flash_micro(event.micro_expression, event.micro_intensity, event.t)


def synthesize(events: list[Event], duration: float, fps: float, mode: str = "dynamic", profile: str = "felt",
               curves: str = "au", seed: int = 0, life: bool = True) -> tuple[tuple[str, ...], Iterator[tuple]]:
    """Output curve names and a generator of (t, values, head_gaze) frames; frame i is at t = i / fps.

    `head_gaze` holds the five angles (degrees, HEAD_GAZE_NAMES order); with arkit / metahuman the eyeLook
    curves come from the eyes, and arkit adds the nine Live Link rotation slots (radians) to the curves.
    """
    synth = Synthesizer(mode=mode, profile=profile, seed=seed, life=life)
    gaze = load_head_gaze()
    names: tuple[str, ...] = synth.channels
    if curves != "au":
        convert = load_retarget(curves).bind(synth.channels)
        eye_index = [convert.names.index(n) for n in (gaze.arkit_names if curves == "arkit" else gaze.metahuman_names)]
        eye_values = gaze.arkit if curves == "arkit" else gaze.metahuman
        names = convert.names + (gaze.livelink_names if curves == "arkit" else ())

    def retarget(values: np.ndarray, pose: tuple[float, ...]) -> np.ndarray:
        if curves == "au":
            return values
        out = convert(values)
        out[eye_index] = eye_values(pose)
        return np.concatenate([out, gaze.livelink(pose)]) if curves == "arkit" else out

    def frames() -> Iterator[tuple]:
        nxt = 0
        for i in range(round(duration * fps)):
            t = i / fps
            while nxt < len(events) and events[nxt].t <= t:
                apply_event(synth, events[nxt])
                nxt += 1
            values = synth.step_array(t)
            yield t, retarget(values, synth.head_gaze), synth.head_gaze

    return names, frames()


def write(names: tuple[str, ...], frames: Iterator[tuple], fmt: str, out: IO[str], digits: int = 5) -> int:
    """CSV: t, the curves, then the head/eye angles; JSONL: {"t", "curves": {...}, "head_gaze": {...}}."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["t", *names, *HEAD_GAZE_NAMES])
        for t, values, pose in frames:
            writer.writerow([f"{t:.6f}", *(f"{v:.{digits}f}" for v in values), *(f"{v:.3f}" for v in pose)])
            count += 1
    else:
        for t, values, pose in frames:
            row = {"t": round(t, 6), "curves": {n: round(float(v), digits) for n, v in zip(names, values, strict=True)},
                   "head_gaze": {n: round(float(v), 3) for n, v in zip(HEAD_GAZE_NAMES, pose, strict=True)}}
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="au-synth", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Timeline format and examples: see the module docstring or docs/au_engine.md.",
    )
    parser.add_argument("--emotion", action="append", type=parse_emotion, default=[], metavar="NAME=W",
                        help="emotion weight held from t=0 for the whole duration (repeatable)")
    parser.add_argument("--timeline", type=Path, metavar="FILE",
                        help="JSONL of timed events: {\"t\": s, \"weights\": {...}, \"micro_expression\": ..., "
                             "\"user_speaking\": bool, \"avatar_speaking\": bool, \"look_at\": {\"yaw\": deg, "
                             "\"pitch\": deg} or null}; '-' reads stdin")
    parser.add_argument("--duration", type=float, default=3.0, metavar="S", help="seconds to render (default 3)")
    parser.add_argument("--fps", type=float, default=60.0, metavar="N", help="frames per second (default 60)")
    parser.add_argument("--mode", choices=MODES, default="dynamic", help="dynamic (rise-hold-fall) or static pose")
    parser.add_argument("--profile", choices=PROFILES, default="felt", help="felt (spontaneous) or posed timing")
    parser.add_argument("--curves", choices=("au", *MAPS), default="au", help="output AU values or retargeted curves")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="output format")
    parser.add_argument("--seed", type=int, default=0, help="random seed (blinks, felt irregularity)")
    parser.add_argument("--no-life", action="store_true", help="no blinks, breathing or micro-motion")
    parser.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (math.isfinite(args.duration) and 0.0 < args.duration <= 3600.0):
        parser.error("--duration must be in (0, 3600] seconds")
    if not (math.isfinite(args.fps) and 1.0 <= args.fps <= 1000.0):
        parser.error("--fps must be in [1, 1000]")
    events: list[Event] = []
    if args.emotion:
        events.append(Event(t=0.0, weights=dict(args.emotion), order=-1))
    if args.timeline is not None:
        try:
            if str(args.timeline) == "-":
                events += read_timeline(iter(sys.stdin), "stdin")
            else:
                with args.timeline.open() as handle:
                    events += read_timeline(handle, str(args.timeline))
        except (OSError, ValueError) as exc:
            print(f"au-synth: {exc}", file=sys.stderr)
            return 2
    events.sort(key=lambda e: (e.t, e.order))
    for event in events:  # say what sanitize will drop or clamp (the run goes on)
        if event.weights is not None:
            _, problems = sanitize(list(event.weights), list(event.weights.values()),
                                   micro_expression=event.micro_expression)
            for problem in problems:
                print(f"au-synth: t={event.t:g}: {problem}", file=sys.stderr)
    names, frames = synthesize(events, args.duration, args.fps, args.mode, args.profile, args.curves, args.seed,
                               life=not args.no_life)
    try:
        if args.output is not None:
            with args.output.open("w") as out:
                write(names, frames, args.format, out)
        else:
            write(names, frames, args.format, sys.stdout)
            sys.stdout.flush()
    except BrokenPipeError:  # `au-synth ... | head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
