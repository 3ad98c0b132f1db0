"""Clips of the face: AU frames and emotion states over time -> rendered video frames with an overlay.

Pure (no rclpy, no video I/O): `au-render` reads the inputs and writes the file; this module samples
the input at the video's frame rate (each video frame shows the latest input at or before its time)
and draws the face with the dominant emotions (or, without emotions, the strongest AUs) on top.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from au_animation.face_model.mesh import FaceModel
from au_animation.face_model.render import FaceRenderer, View

TEXT = (235, 235, 235)
DIM = (150, 156, 166)
BAR = (242, 166, 90)
SHOWN = 3  # emotions (or AUs) in the overlay
FLOOR = 0.05  # below this a value is not worth a bar


@dataclass(frozen=True)
class Timed:
    """A value from time `t` (seconds) on."""

    t: float
    values: Mapping[str, float]


def at(series: Sequence[Timed], t: float) -> Mapping[str, float]:
    """The latest values at or before `t` ({} before the first); `series` sorted by time."""
    i = bisect.bisect_right([s.t for s in series], t) if series else 0
    return series[i - 1].values if i else {}


def dominant(values: Mapping[str, float], n: int = SHOWN,
             exclude: Sequence[str] = ("neutral",)) -> list[tuple[str, float]]:
    """The `n` largest values above FLOOR, largest first."""
    items = [(k, float(v)) for k, v in values.items() if k not in exclude and float(v) >= FLOOR]
    return sorted(items, key=lambda kv: -kv[1])[:n]


def frames(model: FaceModel, aus: Sequence[Timed], emotions: Sequence[Timed], fps: float, view: View,
           yaw: float = 0.0, pitch: float = 0.0) -> Iterator[np.ndarray]:
    """RGB frames from the first AU frame to the last, `fps` per second, each with its overlay."""
    if not aus:
        return
    renderer = FaceRenderer(model, view)
    start, end = aus[0].t, aus[-1].t
    count = round((end - start) * fps) + 1
    times = [a.t for a in aus]
    for k in range(count):
        t = start + k / fps
        frame = aus[max(0, bisect.bisect_right(times, t) - 1)].values
        image = renderer.render(model.mesh(frame), yaw=yaw, pitch=pitch)
        feeling = dominant(at(emotions, t)) if emotions else []
        overlay(image, t - start, feeling if emotions else dominant(frame, exclude=("AU45",)),
                "emotions" if emotions else "strongest AUs")
        yield image


def overlay(image: np.ndarray, t: float, items: Sequence[tuple[str, float]], title: str) -> None:
    """Time, and one labelled bar per item, in the top-left corner (in place)."""
    scale = image.shape[0] / 512.0
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale))
    y = round(22 * scale)
    cv2.putText(image, f"{t:5.2f} s  {title}", (round(10 * scale), y), font, 0.5 * scale, DIM, thick, cv2.LINE_AA)
    for label, value in items:
        y += round(20 * scale)
        x0, width = round(10 * scale), round(90 * scale)
        cv2.rectangle(image, (x0, y - round(10 * scale)), (x0 + round(width * min(1.0, value)), y), BAR, -1)
        cv2.putText(image, f"{label} {value:.2f}", (x0 + width + round(6 * scale), y), font, 0.5 * scale, TEXT, thick,
                    cv2.LINE_AA)
    if not items:
        cv2.putText(image, "neutral", (round(10 * scale), y + round(20 * scale)), font, 0.5 * scale, TEXT, thick,
                    cv2.LINE_AA)
