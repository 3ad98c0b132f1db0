"""The life layer: blinks, breathing and micro-motion, so that a face at rest never freezes.

Deterministic: every random draw comes from generators seeded by the synthesizer, in an order fixed
by time alone (blink intervals are drawn when a blink is scheduled), so the same frame times give
the same output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from au_animation.engine.curves import Curve
from au_animation.engine.tables import LifeTable

SURPRISE_RETRY = 0.3  # s: a blink suppressed by surprise is retried this much later


class Blinker:
    """AU45 blink events with gamma-distributed intervals, fast closing, slower opening, double blinks."""

    def __init__(self, table: LifeTable, rng: np.random.Generator, t0: float = 0.0) -> None:
        self.cfg = table.blink
        self.rng = rng
        keys = self.cfg.keys
        self._shape = Curve.through([k[0] for k in keys], [k[1] for k in keys], end_slope=0.0)
        self._start: float | None = None
        self._due: float | None = None  # when a postponed blink was first due
        self.next_at = t0 + self._interval()
        self.count = 0

    def _interval(self) -> float:
        cfg = self.cfg
        shape = 1.0 / (cfg.cv * cfg.cv)
        draw = float(self.rng.gamma(shape, cfg.mean_interval / shape))
        return max(cfg.min_interval, draw)

    def __call__(self, t: float, surprise: float) -> float:
        """Blink closure in [0, 1] at t; `surprise` is the surprise track amplitude (suppression)."""
        cfg = self.cfg
        if self._start is None and t >= self.next_at:
            if self._due is None:
                self._due = self.next_at
            if surprise > cfg.suppress_surprise_above and t - self._due < cfg.max_suppression:
                self.next_at = t + SURPRISE_RETRY
            else:
                self._due = None
                self._start = t
                self.count += 1
                double = float(self.rng.random()) < cfg.double_probability
                gap = cfg.duration * 1.15 if double else self._interval()
                self.next_at = t + cfg.duration + gap
        if self._start is None:
            return 0.0
        phase = (t - self._start) / cfg.duration
        if phase >= 1.0:
            self._start = None
            return 0.0
        return self._shape(phase)


class Ambient:
    """Breathing and micro-motion: smooth periodic signals, non-negative, on fixed channels."""

    def __init__(self, table: LifeTable, channels: Sequence[str], rng: np.random.Generator) -> None:
        index = {c: j for j, c in enumerate(channels)}
        n = len(channels)
        self.breath_gain = np.zeros(n)
        for name, value in table.breathing.aus.items():
            self.breath_gain[index[name]] = value
        self.omega = 2.0 * math.pi / table.breathing.period
        self.breath_phase = float(rng.uniform(0.0, 2.0 * math.pi))
        freqs = np.asarray(table.micro_motion.frequencies, dtype=float)
        self.motion_gain = np.zeros(n)
        for name, value in table.micro_motion.aus.items():
            self.motion_gain[index[name]] = value
        # per channel and frequency a random phase; the mean of the sines is mapped onto [0, 1]
        self.motion_omega = 2.0 * math.pi * freqs[None, :]
        self.motion_phase = rng.uniform(0.0, 2.0 * math.pi, size=(n, len(freqs)))
        self._active = self.motion_gain > 0.0

    def __call__(self, t: float) -> np.ndarray:
        breath = 0.5 - 0.5 * math.cos(self.omega * t + self.breath_phase)
        out = self.breath_gain * (breath * breath)
        waves = np.sin(self.motion_omega * t + self.motion_phase[self._active]).mean(axis=1)
        out[self._active] += self.motion_gain[self._active] * (0.5 + 0.5 * waves)
        return out
