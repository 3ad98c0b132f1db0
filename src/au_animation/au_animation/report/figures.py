"""The report's figures (matplotlib, Agg backend: no display needed), one PNG each."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after use("Agg"): no display needed
import numpy as np
from matplotlib.patches import Ellipse

from au_animation.report.analysis import ModeSummary
from au_animation.report.regions import RegionTable
from au_animation.report.session import Session

DPI = 110


def energy_bars(summaries: list[ModeSummary], out: Path) -> Path:
    """Per-AU activation energy, sessions side by side."""
    names = list(dict.fromkeys(n for s in summaries for n in s.energy))
    x = np.arange(len(names))
    width = 0.8 / len(summaries)
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names)), 3.6))
    for i, summary in enumerate(summaries):
        ax.bar(x + (i - (len(summaries) - 1) / 2) * width, [summary.energy.get(n, 0.0) for n in names], width,
               label=summary.name)
    ax.set_xticks(x, names, rotation=60, fontsize=8)
    ax.set_ylabel("activation energy (sum of values)")
    ax.set_title("Per-AU total activation energy")
    ax.legend(fontsize=8)
    return _save(fig, out / "energy.png")


def region_heatmaps(summaries: list[ModeSummary], table: RegionTable, out: Path) -> Path:
    """Mean activation per face region on a schematic face, one panel per session, one colour scale."""
    top = max((v for s in summaries for v in s.regions.values()), default=0.0) or 1.0
    cmap = plt.get_cmap("inferno")
    fig, axes = plt.subplots(1, len(summaries), figsize=(3.4 * len(summaries) + 0.8, 4.0), squeeze=False)
    for ax, summary in zip(axes[0], summaries, strict=True):
        ax.add_patch(Ellipse((0, 0), 1.9, 2.4, facecolor="#eeeeee", edgecolor="#888888"))
        for region, spec in table.regions.items():
            colour = cmap(summary.regions.get(region, 0.0) / top)
            for cx, cy, w, h in spec.ellipses:
                ax.add_patch(Ellipse((cx, cy), w, h, facecolor=colour, edgecolor="#444444", lw=0.6))
            cx, cy = spec.ellipses[-1][:2]
            ax.text(cx, cy, region, ha="center", va="center", fontsize=7, color="#66ccff")
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.3, 1.3)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(summary.name, fontsize=10)
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(0, top))
    fig.colorbar(mappable, ax=axes[0].tolist(), shrink=0.8, label="mean activation per frame")
    return _save(fig, out / "regions.png")


def temporal_curves(sessions: list[Session], windows: list[slice], summaries: list[ModeSummary], out: Path,
                    k: int = 5) -> Path:
    """The top-k AUs' curves over the window (frames on x), one panel per session."""
    fig, axes = plt.subplots(1, len(sessions), figsize=(5 * len(sessions), 3.4), squeeze=False, sharey=True)
    for ax, session, span, summary in zip(axes[0], sessions, windows, summaries, strict=True):
        part = session.values[span]
        energies = part.sum(axis=0)
        for j in sorted(range(len(session.names)), key=lambda j: -energies[j])[:k]:
            ax.plot(np.arange(len(part)), part[:, j], label=session.names[j])
        ax.set_xlabel(f"frame (from {session.t[span.start] - session.t[0]:.2f} s)")
        ax.set_title(summary.name, fontsize=10)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("AU intensity")
    return _save(fig, out / "temporal.png")


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path
