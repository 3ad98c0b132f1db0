"""Piecewise-cubic curves built with scipy (monotone PCHIP / cubic Hermite), evaluated cheaply per frame.

A curve is built rarely (when a target changes) and evaluated at 60 Hz: scipy computes the
coefficients, then `Curve.__call__` is a bisect plus one Horner step in plain Python floats, which
costs about a microsecond instead of the ~10 us of a scipy call.

Continuity: a curve that starts where another is interrupted takes the current value *and* slope as
its first key (C1). PCHIP keys never overshoot the key values; the only exception is a reversal
(current motion away from the new target), where keeping the slope means turning around: the track
then decelerates to a turning key at most `TURN_MARGIN` beyond the start value (tracks.py). As a last
resort `Curve.through` reduces the start slope until the first interval stays within its bounds.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import CubicHermiteSpline

TURN_MARGIN = 0.06
_CHECK_SAMPLES = 24


def _sign(v: float) -> int:
    return (v > 0.0) - (v < 0.0)


def _edge_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if _sign(d) != _sign(m0):
        return 0.0
    if _sign(m0) != _sign(m1) and abs(d) > 3.0 * abs(m0):
        return 3.0 * m0
    return d


def pchip_slopes(x: Sequence[float], y: Sequence[float]) -> list[float]:
    """The key slopes scipy's PchipInterpolator uses (Fritsch-Butland weighted harmonic mean, one-sided
    three-point ends), in plain floats: a few microseconds for the handful of keys a curve has,
    instead of building a PchipInterpolator (tests check they are equal)."""
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    n = len(x)
    h = [x[i + 1] - x[i] for i in range(n - 1)]
    m = [(y[i + 1] - y[i]) / h[i] for i in range(n - 1)]
    if n == 2:
        return [m[0], m[0]]
    d = [0.0] * n
    for i in range(1, n - 1):
        if _sign(m[i - 1]) != _sign(m[i]) or m[i - 1] == 0.0 or m[i] == 0.0:
            continue
        w1, w2 = 2.0 * h[i] + h[i - 1], h[i] + 2.0 * h[i - 1]
        d[i] = (w1 + w2) / (w1 / m[i - 1] + w2 / m[i])
    d[0] = _edge_slope(h[0], h[1], m[0], m[1])
    d[-1] = _edge_slope(h[-1], h[-2], m[-1], m[-2])
    return d


def _limit_start(m0: float, x: list[float], y: list[float], m1: float, low: float, high: float) -> float:
    """The start slope to use: `m0` itself unless the first interval would leave its bounds.

    Same direction as the interval: Fritsch-Carlson (alpha^2 + beta^2 <= 9) keeps it monotone, no
    overshoot. Flat or opposite direction (a turn): the excursion beyond y0 may reach TURN_MARGIN
    (within [low, high]); m0 is scaled down until it does not exceed that.
    """
    h = x[1] - x[0]
    delta = (y[1] - y[0]) / h
    if delta != 0.0 and _sign(m0) == _sign(delta):
        alpha, beta = m0 / delta, m1 / delta
        if alpha * alpha + beta * beta <= 9.0:
            return m0
        return delta * math.sqrt(max(0.0, 9.0 - beta * beta)) if beta * beta < 9.0 else 0.0
    if m0 == 0.0:
        return 0.0
    lo = max(low, min(y[0], y[1]) - TURN_MARGIN)
    hi = min(high, max(y[0], y[1]) + TURN_MARGIN)
    s = np.linspace(0.0, 1.0, _CHECK_SAMPLES)
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    for scale in (1.0, 0.7, 0.5, 0.3, 0.15):
        seg = h00 * y[0] + h10 * h * m0 * scale + h01 * y[1] + h11 * h * m1
        if seg.min() >= lo - 1e-12 and seg.max() <= hi + 1e-12:
            return m0 * scale
    return 0.0


class Curve:
    """A C1 piecewise cubic y(t) over absolute times; constant before the first and after the last key."""

    __slots__ = ("_c", "_x", "high", "low", "t_end", "t_start", "y_end", "y_start")

    def __init__(self, spline: CubicHermiteSpline | None, x: Sequence[float],
                 y: Sequence[float], low: float = 0.0, high: float = 1.0) -> None:
        self.low, self.high = low, high
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
            low, high: hard bounds the curve must stay in.
        Returns:
            The curve (scipy CubicHermiteSpline coefficients).
        """
        x = [float(v) for v in times]
        y = [float(v) for v in values]
        if len(x) < 2 or x[-1] <= x[0]:
            return cls.constant(y[-1], x[-1])
        slopes = pchip_slopes(x, y)
        if end_slope is not None:
            slopes[-1] = float(end_slope)
        if start_slope is not None and math.isfinite(start_slope):
            slopes[0] = _limit_start(float(start_slope), x, y, slopes[1], low, high)
        return cls(CubicHermiteSpline(x, y, slopes), x, y, low, high)

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
        # The construction keeps the curve within [low, high]; the clamp only removes rounding
        # (hypothesis found -2e-28 after a 1 us retarget).
        return min(self.high, max(self.low, ((a * dt + b) * dt + c) * dt + d))

    def slope(self, t: float) -> float:
        if t >= self.t_end or t < self.t_start or not self._c:
            return 0.0
        i = bisect_right(self._x, t) - 1
        dt = t - self._x[i]
        a, b, c, _ = self._c[i]
        return (3.0 * a * dt + 2.0 * b) * dt + c
