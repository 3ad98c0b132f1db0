"""The report page (Markdown): tables in the paper's form and links to the figures."""

from __future__ import annotations

import math

from au_animation.report.analysis import ModeSummary


def _aus(items: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} ({value:.1f})" for name, value in items) or "-"


def _num(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else (f"{value:.{digits}g}" if math.isfinite(value)
                                                             else ("+inf" if value > 0 else "-inf"))


def markdown(summaries: list[ModeSummary], effects: dict[str, float] | None, figures: list[str],
             window_frames: int) -> str:
    lines = ["# AU report", ""]
    lines += ["| session | frames | seconds | mean squared jerk (1/s^6) | entropy (bits) | entropy / max |",
              "|---|---|---|---|---|---|"]
    for s in summaries:
        lines.append(f"| {s.name} | {s.frames} | {s.seconds:.2f} | {_num(s.jerk)} | {s.entropy_bits:.3f} | "
                     f"{s.entropy_norm:.3f} |")
    lines += ["", "Smoothness is the mean squared jerk (lower is smoother); spread is the entropy of the "
              "AU energy distribution (higher is more spread).", ""]
    for s in summaries:
        lines += [f"## {s.name}: top-5 AUs per emotion (activation energy)", "",
                  "| emotion | top-5 AUs |", "|---|---|"]
        lines += [f"| {label} | {_aus(top)} |" for label, top in s.per_emotion.items()]
        lines += ["", "| segment | emotion | from (s) | to (s) | frames | top-5 AUs |", "|---|---|---|---|---|---|"]
        lines += [f"| {i} | {seg['label']} | {seg['start_s']:.2f} | {seg['end_s']:.2f} | {seg['frames']} | "
                  f"{_aus(seg['top'])} |" for i, seg in enumerate(s.segments, 1)]
        lines += ["", "| region | mean activation per frame |", "|---|---|"]
        lines += [f"| {region} | {value:.3f} |" for region, value in s.regions.items()]
        lines.append("")
    if effects:
        a, b = summaries[0].name, summaries[1].name
        lines += [f"## Effect sizes: {a} vs {b} (Cohen's d per AU)", "", "| AU | d |", "|---|---|"]
        lines += [f"| {name} | {_num(d)} |" for name, d in sorted(effects.items(), key=lambda kv: kv[0])]
        lines.append("")
    lines += ["## Figures", ""]
    captions = {"energy.png": "Per-AU total activation energy",
                "regions.png": "Activation by face region",
                "temporal.png": f"Temporal curves of the top-5 AUs over {window_frames} frames"}
    lines += [f"![{captions.get(f, f)}]({f})" for f in figures]
    return "\n".join(lines) + "\n"
