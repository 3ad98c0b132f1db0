"""avatar-fuse: run a timeline of emotion estimates through the fusion offline (JSONL in, JSONL out)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from emotion_perception.fusion.params import load_params
from emotion_perception.fusion.timeline import read_jsonl, run_timeline

EXAMPLE = """example:
  printf '%s\\n' \\
    '{"t": 0, "modality": "text", "emotions": {"happiness": 0.9}, "confidence": 0.9, "utterance_id": "u1"}' \\
    '{"t": 1, "modality": "face", "emotions": {"sadness": 0.6}, "confidence": 0.8}' \\
    | avatar-fuse --published-only

input lines: t (arrival, s), modality (text|voice|face), emotions {label: weight} or labels[] + weights[],
valence, arousal, confidence (default 1), stamp (default t), utterance_id, micro_expression, micro_intensity.
output lines: t, event (tick|<modality>), publish (why the node would publish it, or null), labels, weights
(all canonical labels), valence, arousal, confidence, utterance_id, micro_expression, alphas (each
modality's weight x confidence x decay).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="avatar-fuse", description=__doc__, epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", default="-", help="timeline JSONL file ('-' = stdin, default)")
    parser.add_argument("--params", default="", help="fusion parameter YAML (default: the packaged one)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="evaluation grid in Hz (default: the node's, max(check_rate_hz, publish_rate_hz))")
    parser.add_argument("--tail", type=float, default=2.0, help="seconds to run on after the last event (default 2)")
    parser.add_argument("--published-only", action="store_true", help="print only the states the node would publish")
    parser.add_argument("--strict", action="store_true", help="exit 2 on the first unusable input line")
    args = parser.parse_args(argv)

    try:
        params = load_params(args.params or None)
    except (OSError, ValueError) as exc:
        print(f"avatar-fuse: bad --params {args.params}: {exc}", file=sys.stderr)
        return 2
    try:
        stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        print(f"avatar-fuse: {exc}", file=sys.stderr)
        return 2
    events = []
    with stream:
        for number, event, problems in read_jsonl(stream):
            for problem in problems:
                print(f"avatar-fuse: line {number}: {problem}", file=sys.stderr)
            if event is None:
                if args.strict:
                    return 2
                continue
            events.append(event)
    try:
        records = run_timeline(events, params, rate_hz=args.rate or None, tail_s=args.tail)
    except ValueError as exc:
        print(f"avatar-fuse: {exc}", file=sys.stderr)
        return 2
    try:
        for record in records:
            if args.published_only and record["publish"] is None:
                continue
            sys.stdout.write(json.dumps(record, allow_nan=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `avatar-fuse ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
