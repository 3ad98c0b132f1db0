"""One emotion's amplitude over time: the idle -> onset -> apex/hold -> offset -> idle state machine.

The amplitude a(t) in [0, 1] scales the emotion's AU prototype (see blend.py). A new target weight
builds a new curve that starts at the current value and slope (C1, never a jump) and follows the
profile's keyframe template; small changes of the weight (< `DEADBAND`) leave the running curve alone,
so a stream of nearly equal estimates does not restart the motion. Static mode skips all of this and
sets the amplitude to the target at once (the paper's template-pose baseline).
"""

from __future__ import annotations

import math
from enum import Enum

import numpy as np

from au_animation.engine.curves import TURN_MARGIN, Curve, pchip_slopes
from au_animation.engine.tables import Timing

DEADBAND = 0.03
IDLE_BELOW = 1e-3
MAX_TURN_TIME = 0.15  # s: longest deceleration before a reversal


class Phase(str, Enum):
    IDLE = "idle"
    ONSET = "onset"
    APEX = "apex"
    HOLD = "hold"
    OFFSET = "offset"


def _jittered(keys: tuple[tuple[float, float], ...], rng: np.random.Generator | None, jt: float,
              jv: float) -> tuple[list[float], list[float]]:
    """Normalised keys, interior ones perturbed (felt irregularity) while staying ordered."""
    taus = [k[0] for k in keys]
    disp = [k[1] for k in keys]
    if rng is None or (jt <= 0.0 and jv <= 0.0) or len(keys) <= 2:
        return taus, disp
    draws = rng.uniform(-1.0, 1.0, size=(len(keys), 2))
    for i in range(1, len(keys) - 1):
        left, right = taus[i] - taus[i - 1], keys[i + 1][0] - keys[i][0]
        taus[i] += draws[i, 0] * jt * (left if draws[i, 0] < 0 else right)
        disp[i] = min(1.0, max(disp[i - 1], disp[i] + draws[i, 1] * jv))
    for i in range(len(disp) - 2, 0, -1):  # keep non-decreasing after the perturbation
        disp[i] = min(disp[i], disp[i + 1])
    return taus, disp


def _too_fast(v0: float, times: list[float], values: list[float]) -> bool:
    """True if slope v0 at the first key would make the template's first interval overshoot
    (Fritsch-Carlson: alpha^2 + beta^2 <= 9 with alpha, beta the end slopes over the secant slope)."""
    secant = (values[1] - values[0]) / (times[1] - times[0])
    if secant == 0.0:
        return True
    m1 = 0.0 if len(times) == 2 else pchip_slopes(times, values)[1]
    alpha, beta = v0 / secant, m1 / secant
    return alpha * alpha + beta * beta > 9.0


class EmotionTrack:
    """The amplitude of one emotion, driven by target weights; deterministic for a given RNG."""

    def __init__(self, label: str, timing: Timing, dynamic: bool = True,
                 rng: np.random.Generator | None = None) -> None:
        self.label = label
        self.timing = timing
        self.dynamic = dynamic
        self.rng = rng
        self.target = 0.0
        self.curve = Curve.constant(0.0)
        self.value = 0.0
        self._phase_ends: tuple[float, float] = (0.0, 0.0)  # end of onset/offset, end of apex
        self._rising = False

    def set_target(self, weight: float, t: float) -> bool:
        """Aim at `weight` (in [0, 1], scaled by the profile gain) from time t; True if a new curve started."""
        goal = min(1.0, max(0.0, weight * self.timing.gain))
        if goal == self.target or (self.dynamic and abs(goal - self.target) < DEADBAND
                                   and not (goal == 0.0 and self.target > 0.0)):
            return False
        self.target = goal
        if not self.dynamic:
            self.curve = Curve.constant(goal, t)
            return True
        y0, v0 = self.curve(t), self.curve.slope(t)
        change = abs(goal - y0)
        self._rising = goal > y0
        tm = self.timing
        duration = (tm.onset_duration if self._rising else tm.offset_duration) * (0.5 + 0.5 * change)
        keys = tm.onset_keys if self._rising else tm.offset_keys
        taus, disp = _jittered(keys, self.rng, tm.jitter_time, tm.jitter_value)
        times = [t + tau * duration for tau in taus]
        values = [y0 + (goal - y0) * d for d in disp]
        room = (1.0 - y0) if v0 > 0.0 else y0
        turn = min(TURN_MARGIN, room, abs(v0) * MAX_TURN_TIME / 2.0)
        if v0 * (goal - y0) < 0.0 and turn > 1e-6:
            # reversal while moving: decelerate to a turning key first (C1, overshoot <= TURN_MARGIN)
            tau = 2.0 * turn / abs(v0)
            times = [t] + [x + tau for x in times]
            values = [y0, y0 + math.copysign(turn, v0), *values[1:]]
        elif v0 * (goal - y0) > 0.0 and _too_fast(v0, times, values):
            # moving towards the goal faster than the template starts: one C1 ease that decelerates
            # onto the goal (Hermite with start slope v0, end slope 0: monotone, no overshoot)
            times = [t, t + 2.0 * abs(goal - y0) / abs(v0)]
            values = [y0, goal]
        motion_end = apex_end = times[-1]
        if self._rising and goal > 0.0:
            apex_end = motion_end + tm.apex_duration
            times.append(apex_end)
            values.append(goal * tm.sustain)
        self.curve = Curve.through(times, values, start_slope=v0, end_slope=0.0)
        self._phase_ends = (motion_end, apex_end)
        return True

    def amplitude(self, t: float) -> float:
        self.value = self.curve(t)
        return self.value

    def phase(self, t: float) -> Phase:
        """Where the state machine is at time t."""
        if not self.dynamic:
            return Phase.HOLD if self.target > 0.0 else Phase.IDLE
        motion_end, apex_end = self._phase_ends
        if t < motion_end:
            return Phase.ONSET if self._rising else Phase.OFFSET
        if self._rising and t < apex_end:
            return Phase.APEX
        return Phase.HOLD if self.curve(t) > IDLE_BELOW else Phase.IDLE


class Envelope:
    """A 0..1 level that eases (C1) to its target: attack seconds up, release seconds down."""

    def __init__(self, attack: float, release: float) -> None:
        self.attack = attack
        self.release = release
        self.target = 0.0
        self.curve = Curve.constant(0.0)

    def set(self, target: float, t: float) -> None:
        if target == self.target:
            return
        y0, v0 = self.curve(t), self.curve.slope(t)
        span = abs(target - y0)
        duration = (self.attack if target > y0 else self.release) * max(0.2, span)
        self.target = target
        self.curve = Curve.ease(t, y0, v0, t + duration, target)

    def __call__(self, t: float) -> float:
        return self.curve(t)


class Flash:
    """A brief rise-hold-fall pulse (micro-expressions): peak for `hold` s, total under 0.5 s."""

    def __init__(self, rise: float, hold: float, fall: float) -> None:
        self.rise, self.hold, self.fall = rise, hold, fall
        self.curve = Curve.constant(0.0)

    def trigger(self, peak: float, t: float) -> None:
        t1 = t + self.rise
        t2 = t1 + self.hold
        t3 = t2 + self.fall
        self.curve = Curve.through([t, t1, t2, t3], [0.0, peak, peak, 0.0], start_slope=0.0, end_slope=0.0)

    def active(self, t: float) -> bool:
        return t < self.curve.t_end

    def __call__(self, t: float) -> float:
        return self.curve(t)
