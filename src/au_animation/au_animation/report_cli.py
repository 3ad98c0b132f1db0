"""au-report: a session's AU stream -> energy tables, top-5 AUs per emotion, region heatmaps, curves.

    au-report session_bag -o report/
    au-report dynamic_bag static_bag --names dynamic static -o report/     # side by side, Cohen's d
    au-report frames.jsonl -o report/      # au-synth frame rows + timeline rows in one file

Inputs are bags (face/action_units and affect/fused topics) or JSONL. Writes report.md,
metrics.json and PNG figures (energy.png, regions.png, temporal.png) into the output folder.
The analyses follow Yang et al. 2025 (see au_animation/report/analysis.py for the definitions).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from au_animation.report import analysis, figures, page
from au_animation.report.regions import load_regions
from au_animation.report.session import ReportError, load

PROG = "au-report"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[1:]))
    parser.add_argument("sessions", nargs="+", type=Path, metavar="BAG_OR_JSONL",
                        help="one session, or two to compare (e.g. dynamic and static)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--names", nargs="+", default=None, help="display names of the sessions")
    parser.add_argument("--window", type=int, default=60, help="frames in the temporal plot (default %(default)s)")
    parser.add_argument("--window-start", type=float, default=None, metavar="S",
                        help="seconds into the session where the window starts (default: first emotion onset)")
    parser.add_argument("--min-weight", type=float, default=0.0,
                        help="a dominant weight at or below this counts as neutral (default %(default)s)")
    parser.add_argument("--min-segment-s", type=float, default=0.5, metavar="S",
                        help="a dominant label that lasts less than this joins the segment before it "
                             "(0 = every flicker is a segment; default %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    opts = parser.parse_args(argv)
    if opts.names and len(opts.names) != len(opts.sessions):
        parser.exit(2, f"{PROG}: error: --names needs one name per session\n")
    if opts.window < 4 or not 0 <= opts.min_weight < 1 or not 0 <= opts.min_segment_s <= 3600:
        parser.exit(2, f"{PROG}: error: --window must be >= 4, --min-weight in [0, 1), --min-segment-s in [0, 3600]\n")
    if len(opts.sessions) > 2:
        parser.exit(2, f"{PROG}: error: give one session, or two to compare\n")
    try:
        report(opts)
    except ReportError as exc:
        parser.exit(2, f"{PROG}: error: {exc}\n")
    except OSError as exc:
        parser.exit(2, f"{PROG}: error: cannot write {opts.output}: {exc.strerror}\n")
    return 0


def report(opts: argparse.Namespace) -> Path:
    table = load_regions()
    names = opts.names or [None] * len(opts.sessions)
    steps = tqdm(total=2 * len(opts.sessions) + 4, desc=PROG, unit="step", disable=None, file=sys.stderr)
    sessions = []
    for path, name in zip(opts.sessions, names, strict=True):
        sessions.append(load(path, name))
        steps.update()
    if len({s.name for s in sessions}) < len(sessions):
        for i, s in enumerate(sessions):
            s.name = f"{s.name} ({i + 1})"
    summaries = []
    for session in sessions:
        summaries.append(analysis.summarize(session, table, min_weight=opts.min_weight,
                                            min_segment_s=opts.min_segment_s))
        steps.update()
    effects = analysis.effect_sizes(sessions[0], sessions[1]) if len(sessions) == 2 else None
    opts.output.mkdir(parents=True, exist_ok=True)
    windows = [analysis.window(s, analysis.segments(analysis.frame_labels(s, opts.min_weight, opts.min_segment_s)),
                               opts.window, opts.window_start) for s in sessions]
    made = [figures.energy_bars(summaries, opts.output).name]
    steps.update()
    made.append(figures.region_heatmaps(summaries, table, opts.output).name)
    steps.update()
    made.append(figures.temporal_curves(sessions, windows, summaries, opts.output).name)
    steps.update()
    (opts.output / "report.md").write_text(page.markdown(summaries, effects, made, opts.window), encoding="utf-8")
    metrics = {"sessions": [s.to_dict() for s in summaries], "cohens_d": effects,
               "windows": [{"start_frame": w.start, "frames": w.stop - w.start} for w in windows]}
    (opts.output / "metrics.json").write_text(json.dumps(_finite(metrics), indent=1), encoding="utf-8")
    steps.update()
    steps.close()
    print(opts.output / "report.md")
    return opts.output


def _finite(value: object) -> object:
    """JSON has no inf/nan: write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
