"""Piecewise-cubic curves built with scipy (monotone PCHIP / cubic Hermite), evaluated cheaply per frame.

A curve is built rarely (when a target changes) and evaluated at 60 Hz: scipy computes the
coefficients, then `Curve.__call__` is a bisect plus one Horner step in plain Python floats, which
costs about a microsecond instead of the ~10 us of a scipy call.

Continuity: a curve that starts where another is interrupted takes the current value *and* slope as
its first key (C1). PCHIP keys never overshoot the key values; the only exception is a reversal
(current motion away from the new target), where keeping the slope means turning around: the track
then decelerates to a turning key at most `TURN_MARGIN` beyond the start value (tracks.py). As a last
resort `Curve.through` reduces the start slope until the curve stays within its bounds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import CubicHermiteSpline, PchipInterpolator

TURN_MARGIN = 0.06
_CHECK_SAMPLES = 48


class Curve:
    """A C1 piecewise cubic y(t) over absolute times; constant before the first and after the last key."""

    __slots__ = ("_c", "_x", "t_end", "t_start", "y_end", "y_start")

    def __init__(self, spline: CubicHermiteSpline | PchipInterpolator | None, x: Sequence[float],
                 y: Sequence[float]) -> None:
        self._x = [float(v) for v in x]
        self.t_start, self.t_end = self._x[0], self._x[-1]
        self.y_start, self.y_end = float(y[0]), float(y[-1])
        if spline is None:
            self._c: list[tuple[float, float, float, float]] = []
        else:
            c = np.asarray(spline.c, dtype=float)
            self._c = [tuple(float(v) for v in c[:, i]) for i in range(c.shape[1])]  # type: ignore[misc]

    @classmethod
    def constant(cls, value: float, t: float = 0.0) -> Curve:
        return cls(None, [t, t], [value, value])

    @classmethod
    def through(cls, times: Sequence[float], values: Sequence[float], start_slope: float | None = None,
                end_slope: float | None = 0.0, low: float = 0.0, high: float = 1.0) -> Curve:
        """Monotone-shape curve through (times, values): PCHIP slopes, optionally a given start slope.

        Args:
            times: strictly increasing absolute times (seconds).
            values: key values.
            start_slope: slope at the first key (the slope of the curve being replaced, for C1);
                None keeps PCHIP's own.
            end_slope: slope at the last key (0 = settle); None keeps PCHIP's own.
            low, high: hard bounds the curve must stay in (checked on samples; the start slope is
                reduced until it does).
        Returns:
            The curve.
        """
        x = np.asarray(times, dtype=float)
        y = np.asarray(values, dtype=float)
        if len(x) < 2 or x[-1] <= x[0]:
            return cls.constant(float(y[-1]), float(x[-1]))
        slopes = PchipInterpolator(x, y).derivative()(x)
        if end_slope is not None:
            slopes[-1] = end_slope
        if start_slope is None:
            start_slope = float(slopes[0])
        lo = max(low, min(float(y.min()), float(y[0]) - TURN_MARGIN))
        hi = min(high, max(float(y.max()), float(y[0]) + TURN_MARGIN))
        probe = np.linspace(x[0], x[-1], _CHECK_SAMPLES)
        for scale in (1.0, 0.5, 0.25, 0.0):
            slopes[0] = start_slope * scale
            spline = CubicHermiteSpline(x, y, slopes)
            samples = spline(probe)
            if scale == 0.0 or (samples.min() >= lo - 1e-9 and samples.max() <= hi + 1e-9):
                break
        if scale == 0.0:  # still out of bounds with a flat start: plain PCHIP cannot overshoot
            spline = PchipInterpolator(x, y)
        return cls(spline, x, y)

    @classmethod
    def ease(cls, t0: float, y0: float, v0: float, t1: float, y1: float) -> Curve:
        """One cubic Hermite from (y0, slope v0) at t0 to (y1, slope 0) at t1: a C1 envelope transition."""
        return cls.through([t0, t1], [y0, y1], start_slope=v0, end_slope=0.0)

    def __call__(self, t: float) -> float:
        if t >= self.t_end:
            return self.y_end
        if t <= self.t_start:
            return self.y_start
        i = bisect_right(self._x, t) - 1
        dt = t - self._x[i]
        a, b, c, d = self._c[i]
        return ((a * dt + b) * dt + c) * dt + d

    def slope(self, t: float) -> float:
        if t >= self.t_end or t < self.t_start or not self._c:
            return 0.0
        i = bisect_right(self._x, t) - 1
        dt = t - self._x[i]
        a, b, c, _ = self._c[i]
        return (3.0 * a * dt + 2.0 * b) * dt + c
