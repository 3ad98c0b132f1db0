"""The paper's objective analyses of an AU stream, as plain numpy (figures and pages are elsewhere).

Definitions (so numbers can be checked by hand):
- activation energy of an AU: the sum of its curve values over the frames (the paper's "curve
  values summed over the clip"); divide by the frame rate for value x seconds.
- segments: runs of frames whose latest fused estimate has the same dominant label (the label with
  the largest weight; 'neutral' before the first estimate and when every weight is below
  `min_weight`); a run shorter than `min_segment_s` (a dominant label that flickers while two
  emotions are close) joins the run before it (the first run: the one after it).
- Cohen's d per AU between two sessions: (mean_a - mean_b) / pooled standard deviation of the
  per-frame values (sample variances, n - 1).
- smoothness: mean squared jerk, the third finite difference of every AU curve divided by dt^3,
  squared and averaged over frames and AUs (1/s^6; lower is smoother).
- spread: Shannon entropy (bits) of the AU energy distribution p_j = E_j / sum E; also divided
  by log2(number of AUs) so 1 means evenly spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from au_animation.report.regions import RegionTable
from au_animation.report.session import Session

NEUTRAL = "neutral"


@dataclass(frozen=True)
class Segment:
    label: str
    start: int  # first frame index
    end: int  # one past the last frame index

    def frames(self) -> slice:
        return slice(self.start, self.end)


def energy(values: np.ndarray) -> np.ndarray:
    """Per-AU activation energy: column sums of the (frames x AUs) values."""
    return values.sum(axis=0)


def dominant(weights: dict[str, float], min_weight: float = 0.0) -> str:
    if not weights:
        return NEUTRAL
    label, weight = max(weights.items(), key=lambda kv: kv[1])
    return label if weight > min_weight else NEUTRAL


def frame_labels(session: Session, min_weight: float = 0.0, min_segment_s: float = 0.0) -> list[str]:
    """The dominant label of the latest estimate at each frame time (short runs merged, see above)."""
    times = [t for t, _ in session.emotions]
    labels = [dominant(w, min_weight) for _, w in session.emotions]
    index = np.searchsorted(np.array(times), session.t, side="right") - 1
    per_frame = [labels[i] if i >= 0 else NEUTRAL for i in index]
    return _merge_short_runs(per_frame, max(1, round(min_segment_s / session.dt)) if min_segment_s > 0 else 1)


def _merge_short_runs(labels: list[str], min_frames: int) -> list[str]:
    runs = segments(labels)
    if min_frames <= 1 or len(runs) < 2:
        return labels
    out = list(labels)
    kept: list[Segment] = []
    for run in runs:
        if run.end - run.start >= min_frames or not kept:
            kept.append(run)
            continue
        out[run.start:run.end] = [kept[-1].label] * (run.end - run.start)
    first = runs[0]
    if first.end - first.start < min_frames:
        out[first.start:first.end] = [runs[1].label] * (first.end - first.start)
    return out


def segments(labels: list[str]) -> list[Segment]:
    """Runs of equal labels."""
    out: list[Segment] = []
    for i, label in enumerate(labels):
        if out and out[-1].label == label:
            out[-1] = Segment(label, out[-1].start, i + 1)
        else:
            out.append(Segment(label, i, i + 1))
    return out


def top_k(values: np.ndarray, names: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The k AUs with the most energy in `values` (ties: channel order), with their energy."""
    e = energy(values)
    order = sorted(range(len(names)), key=lambda j: (-e[j], j))[:k]
    return [(names[j], float(e[j])) for j in order if e[j] > 0]


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Effect size of a vs b (1-D samples); 0 when both are constant and equal, +-inf when only the means differ."""
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return float("nan")
    pooled = np.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    diff = float(a.mean() - b.mean())
    if pooled == 0:
        return 0.0 if diff == 0 else float(np.copysign(np.inf, diff))
    return diff / float(pooled)


def mean_squared_jerk(values: np.ndarray, dt: float) -> float:
    if len(values) < 4 or dt <= 0:
        return float("nan")
    jerk = np.diff(values, n=3, axis=0) / dt**3
    return float(np.mean(jerk**2))


def entropy_bits(values: np.ndarray) -> tuple[float, float]:
    """(entropy in bits, entropy / log2(n AUs)) of the energy distribution across AUs."""
    e = energy(values)
    total = e.sum()
    if total <= 0 or len(e) < 2:
        return 0.0, 0.0
    p = e[e > 0] / total
    h = float(-(p * np.log2(p)).sum())
    return h, h / float(np.log2(len(e)))


def region_energy(values: np.ndarray, names: list[str], table: RegionTable) -> dict[str, float]:
    """Mean per-frame activation of each region (sum over its AU channels, averaged over frames)."""
    out = dict.fromkeys(table.regions, 0.0)
    per_au = energy(values) / max(1, len(values))
    for j, name in enumerate(names):
        region = table.region_of(name)
        if region is not None:
            out[region] += float(per_au[j])
    return out


def window(session: Session, segs: list[Segment], length: int, start_s: float | None = None) -> slice:
    """Frames of the temporal-curve window: from `start_s` if given, else the first non-neutral segment's onset."""
    if start_s is not None:
        first = int(np.searchsorted(session.t, session.t[0] + start_s))
    else:
        first = next((s.start for s in segs if s.label != NEUTRAL), 0)
    first = max(0, min(first, len(session.t) - length)) if len(session.t) >= length else 0
    return slice(first, first + length)


@dataclass
class ModeSummary:
    """One session's numbers for the report and its JSON."""

    name: str
    frames: int
    seconds: float
    energy: dict[str, float]
    top5: list[tuple[str, float]]
    segments: list[dict]
    per_emotion: dict[str, list[tuple[str, float]]]
    regions: dict[str, float]
    jerk: float
    entropy_bits: float
    entropy_norm: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def summarize(session: Session, table: RegionTable, k: int = 5, min_weight: float = 0.0,
              min_segment_s: float = 0.0) -> ModeSummary:
    labels = frame_labels(session, min_weight, min_segment_s)
    segs = segments(labels)
    e = energy(session.values)
    per_emotion: dict[str, list[tuple[str, float]]] = {}
    for label in dict.fromkeys(s.label for s in segs):
        mask = np.array([lab == label for lab in labels])
        per_emotion[label] = top_k(session.values[mask], session.names, k)
    h, hn = entropy_bits(session.values)
    return ModeSummary(
        name=session.name, frames=len(session.t), seconds=float(session.t[-1] - session.t[0]),
        energy={n: float(v) for n, v in zip(session.names, e, strict=True)},
        top5=top_k(session.values, session.names, k),
        segments=[{"label": s.label, "start_s": float(session.t[s.start] - session.t[0]),
                   "end_s": float(session.t[s.end - 1] - session.t[0]), "frames": s.end - s.start,
                   "top": top_k(session.values[s.frames()], session.names, k)} for s in segs],
        per_emotion=per_emotion, regions=region_energy(session.values, session.names, table),
        jerk=mean_squared_jerk(session.values, session.dt), entropy_bits=h, entropy_norm=hn)


def effect_sizes(a: Session, b: Session) -> dict[str, float]:
    """Cohen's d per AU channel present in both sessions (a vs b)."""
    out = {}
    for j, name in enumerate(a.names):
        if name in b.names:
            out[name] = cohens_d(a.values[:, j], b.values[:, b.names.index(name)])
    return out
