"""Head and gaze: the character looks at the person, averts while thinking, and moves like a living head.

Pure and deterministic (a seeded generator, draws in time order), evaluated once per frame with the AUs.
Angles are degrees (yaw > 0 toward the character's left, pitch > 0 up, gaze = head + eye); the numbers
and their sources live in `data/gaze.yaml`.

Per frame:
  behaviour (mutual gaze / aversion / thinking / idle glances) -> wanted gaze direction
  -> eyes: minimum-jerk saccade along the main sequence for errors above a threshold, smooth pursuit below
  -> head: joins shifts that would leave the eyes too eccentric, minimum-jerk (Flash & Hogan), plus the
     emotion posture, listening nods and a slow sway
  -> eyes counter-rotate (eye = gaze - head) and stay within the oculomotor range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import NamedTuple

import numpy as np
import yaml
from avatar_common.emotion import CANONICAL_LABELS
from pydantic import BaseModel, ConfigDict, Field, model_validator

STATES: tuple[str, ...] = ("idle", "listening", "speaking", "thinking")
_AXES = ("yaw", "pitch", "roll")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Range = tuple[float, float]


def _ordered(r: Range, name: str) -> None:
    if not (math.isfinite(r[0]) and math.isfinite(r[1]) and r[0] <= r[1]):
        raise ValueError(f"{name}: need a finite range [low, high] with low <= high, got {list(r)}")


class SaccadeCfg(_Strict):
    threshold: float = Field(gt=0.0, le=10.0)
    base_duration: float = Field(gt=0.0, le=0.2)
    per_degree: float = Field(gt=0.0, le=0.01)
    pursuit_gain: float = Field(gt=0.0, le=100.0)
    pursuit_max_velocity: float = Field(gt=0.0, le=200.0)


class HeadCfg(_Strict):
    threshold: float = Field(ge=0.0, le=60.0)
    alignment: float = Field(ge=0.0, le=1.0)
    latency: float = Field(ge=0.0, le=0.5)
    base_duration: float = Field(gt=0.05, le=2.0)
    per_degree: float = Field(ge=0.0, le=0.05)


class Limits(_Strict):
    head_yaw: Range
    head_pitch: Range
    head_roll: Range
    eye_yaw: Range
    eye_pitch: Range

    @model_validator(mode="after")
    def _ranges(self) -> Limits:
        for name in type(self).model_fields:
            r = getattr(self, name)
            _ordered(r, name)
            if not r[0] <= 0.0 <= r[1] or max(abs(r[0]), abs(r[1])) > 90.0:
                raise ValueError(f"{name}: the range must contain 0 and stay within +-90 deg")
        return self


class Conversational(_Strict):
    look_fraction: float = Field(gt=0.0, lt=1.0)
    mean_look: float = Field(gt=0.1, le=30.0)
    cv: float = Field(gt=0.0, le=2.0)
    aversion_yaw: Range
    aversion_pitch: Range

    @property
    def mean_aversion(self) -> float:
        return self.mean_look * (1.0 - self.look_fraction) / self.look_fraction


class Thinking(_Strict):
    latency: float = Field(ge=0.0, le=5.0)
    aversion_yaw: Range
    aversion_pitch: Range


class Idle(_Strict):
    mean_interval: float = Field(gt=0.2, le=60.0)
    cv: float = Field(gt=0.0, le=2.0)
    glance_yaw: Range
    glance_pitch: Range
    drift: float = Field(ge=0.0, le=10.0)


class Behaviour(_Strict):
    listening: Conversational
    speaking: Conversational
    thinking: Thinking
    idle: Idle

    @model_validator(mode="after")
    def _ranges(self) -> Behaviour:
        for state in (self.listening, self.speaking, self.thinking):
            _ordered(state.aversion_yaw, "aversion_yaw")
            _ordered(state.aversion_pitch, "aversion_pitch")
            if state.aversion_yaw[0] < 0.0:
                raise ValueError("aversion_yaw is a magnitude range (either side is drawn): use values >= 0")
        _ordered(self.idle.glance_yaw, "glance_yaw")
        _ordered(self.idle.glance_pitch, "glance_pitch")
        return self


class Posture(_Strict):
    head_yaw: float = Field(default=0.0, ge=-30.0, le=30.0)
    head_pitch: float = Field(default=0.0, ge=-30.0, le=30.0)
    head_roll: float = Field(default=0.0, ge=-30.0, le=30.0)
    gaze_pitch: float = Field(default=0.0, ge=-30.0, le=30.0)


class Nod(_Strict):
    probability: float = Field(ge=0.0, le=1.0)
    latency: float = Field(ge=0.0, le=2.0)
    amplitude: Range
    duration: float = Field(gt=0.1, le=3.0)
    cycles: int = Field(ge=1, le=4)


class Sway(_Strict):
    amplitude: dict[str, float]
    frequencies: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _axes(self) -> Sway:
        if set(self.amplitude) - set(_AXES) or any(not 0.0 <= v <= 5.0 for v in self.amplitude.values()):
            raise ValueError(f"sway.amplitude: axes {_AXES}, each in [0, 5] deg")
        if any(not 0.0 < f <= 2.0 for f in self.frequencies):
            raise ValueError("sway.frequencies must be in (0, 2] Hz")
        return self


class GazeBlink(_Strict):
    min_amplitude: float = Field(gt=0.0, le=180.0)
    probability: float = Field(ge=0.0, le=1.0)


class GazeTable(_Strict):
    schema_version: int = Field(ge=1, le=1)
    sources: list[str] = Field(min_length=1)
    saccade: SaccadeCfg
    head: HeadCfg
    limits: Limits
    behaviour: Behaviour
    posture: dict[str, Posture]
    nod: Nod
    sway: Sway
    blink: GazeBlink

    @model_validator(mode="after")
    def _complete(self) -> GazeTable:
        if tuple(self.posture) != CANONICAL_LABELS:
            raise ValueError(f"posture must list {CANONICAL_LABELS} in this order")
        return self


@lru_cache(maxsize=1)
def load_gaze_table() -> GazeTable:
    """The package's gaze table, validated (cached, immutable)."""
    return GazeTable.model_validate(yaml.safe_load((files("au_animation") / "data" / "gaze.yaml").read_text()))


class HeadGaze(NamedTuple):
    """One frame of head and eye angles in degrees (signs as avatar_msgs/HeadGaze)."""

    head_yaw: float = 0.0
    head_pitch: float = 0.0
    head_roll: float = 0.0
    eye_yaw: float = 0.0
    eye_pitch: float = 0.0

    @property
    def gaze_yaw(self) -> float:
        return self.head_yaw + self.eye_yaw

    @property
    def gaze_pitch(self) -> float:
        return self.head_pitch + self.eye_pitch

    def radians(self) -> tuple[float, ...]:
        return tuple(math.radians(v) for v in self)


def _clamp(v: float, r: Range) -> float:
    return r[0] if v < r[0] else r[1] if v > r[1] else v


def wrap_degrees(angle: float) -> float:
    """Angle folded into (-180, 180]."""
    a = math.fmod(angle, 360.0)
    if a > 180.0:
        a -= 360.0
    elif a <= -180.0:
        a += 360.0
    return a


class Quintic:
    """Minimum-jerk movement of one axis from (x0, v0, a0) to rest at x1 in T s (Flash & Hogan 1985).

    From rest (v0 = a0 = 0) it is x0 + (x1 - x0)(10s^3 - 15s^4 + 6s^5): monotone, no overshoot. Starting
    while moving keeps position, velocity and acceleration continuous.
    """

    __slots__ = ("c", "t0", "t1", "x1")

    def __init__(self, t0: float, x0: float, x1: float, duration: float = 0.0, v0: float = 0.0,
                 a0: float = 0.0) -> None:
        self.t0, self.t1, self.x1 = t0, t0 + max(duration, 0.0), x1
        if duration <= 0.0:
            self.c = (x1, 0.0, 0.0, 0.0, 0.0, 0.0)
            return
        h, d = duration, x1 - x0
        self.c = (x0, v0, 0.5 * a0,
                  (20.0 * d - 12.0 * v0 * h - 3.0 * a0 * h * h) / (2.0 * h ** 3),
                  (-30.0 * d + 16.0 * v0 * h + 3.0 * a0 * h * h) / (2.0 * h ** 4),
                  (12.0 * d - 6.0 * v0 * h - a0 * h * h) / (2.0 * h ** 5))

    def state(self, t: float) -> tuple[float, float, float]:
        """(position, velocity, acceleration) at t; at rest at x1 after the end."""
        if t >= self.t1:
            return self.x1, 0.0, 0.0
        s = max(0.0, t - self.t0)
        c0, c1, c2, c3, c4, c5 = self.c
        x = c0 + s * (c1 + s * (c2 + s * (c3 + s * (c4 + s * c5))))
        v = c1 + s * (2.0 * c2 + s * (3.0 * c3 + s * (4.0 * c4 + s * 5.0 * c5)))
        a = 2.0 * c2 + s * (6.0 * c3 + s * (12.0 * c4 + s * 20.0 * c5))
        return x, v, a


@dataclass
class _Saccade:
    t0: float
    t1: float
    from_yaw: float
    from_pitch: float
    to_yaw: float
    to_pitch: float

    def at(self, t: float) -> tuple[float, float]:
        s = min(1.0, max(0.0, (t - self.t0) / (self.t1 - self.t0)))
        k = s * s * s * (10.0 + s * (-15.0 + 6.0 * s))
        return (self.from_yaw + (self.to_yaw - self.from_yaw) * k,
                self.from_pitch + (self.to_pitch - self.from_pitch) * k)


class GazeController:
    """Wanted gaze from the conversational state and the target, eye/head motion, limits; see the module doc."""

    def __init__(self, table: GazeTable | None = None, rng: np.random.Generator | None = None) -> None:
        self.cfg = table or load_gaze_table()
        self.rng = rng if rng is not None else np.random.default_rng(0)
        lim = self.cfg.limits
        self.gaze_yaw_range = (lim.head_yaw[0] + lim.eye_yaw[0], lim.head_yaw[1] + lim.eye_yaw[1])
        self.gaze_pitch_range = (lim.head_pitch[0] + lim.eye_pitch[0], lim.head_pitch[1] + lim.eye_pitch[1])
        self._posture = np.array([[p.head_yaw, p.head_pitch, p.head_roll, p.gaze_pitch]
                                  for p in self.cfg.posture.values()])
        sway = self.cfg.sway
        self._sway_amp = [sway.amplitude.get(a, 0.0) for a in _AXES]
        self._sway_omega = [2.0 * math.pi * f for f in sway.frequencies]
        self._sway_phase = self.rng.uniform(0.0, 2.0 * math.pi, size=(3, len(sway.frequencies))).tolist()
        self._drift_phase = self.rng.uniform(0.0, 2.0 * math.pi, size=2).tolist()
        self.target: tuple[float, float] | None = None
        self.state = "idle"
        self.ignored_targets = 0
        self.shifts = 0
        self.last_shift = 0.0  # amplitude (deg) of a saccade started in the last step, else 0
        self._gaze = (0.0, 0.0)
        self._saccade: _Saccade | None = None
        self._head = [Quintic(0.0, 0.0, 0.0) for _ in range(2)]  # base yaw, pitch (without posture)
        self._head_goal = (0.0, 0.0)
        self._posture_now = (0.0, 0.0)  # emotion posture yaw, pitch of the current frame
        self._aversion = (0.0, 0.0)
        self._averted = False
        self._glance = (0.0, 0.0)  # idle: straight ahead until the first glance
        self._phase_until = self._gamma(self.cfg.behaviour.idle.mean_interval, self.cfg.behaviour.idle.cv)
        self._nod_start = math.inf
        self._nod_amp = 0.0
        self._last_t: float | None = None
        self.pose = HeadGaze()

    @property
    def averted(self) -> bool:
        """The behaviour currently looks away from the target (an aversion or a thinking glance)."""
        return self._aversion != (0.0, 0.0)

    # -- inputs -------------------------------------------------------------------------------------
    def set_target(self, yaw: float | None, pitch: float | None = 0.0) -> bool:
        """The person's direction (deg, head frame) or None (nobody); False (ignored) if not finite.

        Any finite angle is accepted: yaw is folded into (-180, 180] and pitch into [-90, 90]; a target
        beyond reach (behind the head) is looked at as far as the limits allow.
        """
        if yaw is None:
            self.target = None
            return True
        try:
            y, p = float(yaw), float(0.0 if pitch is None else pitch)
        except (TypeError, ValueError):
            self.ignored_targets += 1
            return False
        if not (math.isfinite(y) and math.isfinite(p)):
            self.ignored_targets += 1
            return False
        p = wrap_degrees(p)
        if abs(p) > 90.0:  # over the top: the same direction seen from behind
            p = math.copysign(180.0 - abs(p), p)
            y = wrap_degrees(y + 180.0)
        self.target = (_clamp(wrap_degrees(y), self.gaze_yaw_range), _clamp(p, self.gaze_pitch_range))
        return True

    def set_state(self, state: str, t: float) -> None:
        """Conversational state (STATES); entering one restarts its gaze schedule at t."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {state!r}")
        if state == self.state:
            return
        self.state = state
        self._averted = False
        self._aversion = (0.0, 0.0)
        if state == "thinking":
            self._phase_until = t + self.cfg.behaviour.thinking.latency
        elif state == "idle":
            self._phase_until = t + self._gamma(self.cfg.behaviour.idle.mean_interval, self.cfg.behaviour.idle.cv)
        else:
            mode = getattr(self.cfg.behaviour, state)
            self._phase_until = t + self._gamma(mode.mean_look, mode.cv)

    def pause(self, t: float) -> None:
        """The person paused (end of their speech): maybe a small listening nod."""
        nod = self.cfg.nod
        if self.target is None or float(self.rng.random()) >= nod.probability:
            return
        self._nod_amp = float(self.rng.uniform(*nod.amplitude))
        self._nod_start = t + nod.latency

    # -- behaviour ----------------------------------------------------------------------------------
    def _gamma(self, mean: float, cv: float) -> float:
        shape = 1.0 / (cv * cv)
        return max(0.1, float(self.rng.gamma(shape, mean / shape)))

    def _draw_aversion(self, yaw_range: Range, pitch_range: Range) -> tuple[float, float]:
        side = 1.0 if float(self.rng.random()) < 0.5 else -1.0
        return side * float(self.rng.uniform(*yaw_range)), float(self.rng.uniform(*pitch_range))

    def _schedule(self, t: float) -> None:
        """Advance the state's look / avert (or glance) schedule up to t."""
        b = self.cfg.behaviour
        if self.state == "thinking":
            if not self._averted and t >= self._phase_until:
                self._averted = True
                self._aversion = self._draw_aversion(b.thinking.aversion_yaw, b.thinking.aversion_pitch)
            return
        if t < self._phase_until:
            return
        if self.state == "idle":
            idle = b.idle
            self._glance = (float(self.rng.uniform(*idle.glance_yaw)), float(self.rng.uniform(*idle.glance_pitch)))
            self._phase_until = max(t, self._phase_until) + self._gamma(idle.mean_interval, idle.cv)
            return
        mode = getattr(b, self.state)
        self._averted = not self._averted
        if self._averted:
            self._aversion = self._draw_aversion(mode.aversion_yaw, mode.aversion_pitch)
            length = self._gamma(mode.mean_aversion, mode.cv)
        else:
            self._aversion = (0.0, 0.0)
            length = self._gamma(mode.mean_look, mode.cv)
        self._phase_until = max(t, self._phase_until) + length

    def wanted(self, t: float, gaze_pitch_offset: float = 0.0) -> tuple[float, float]:
        """The gaze direction the behaviour asks for at t (deg), within the reachable range."""
        if self.target is not None:
            yaw, pitch = self.target
        else:
            drift = self.cfg.behaviour.idle.drift
            yaw = self._glance[0] + drift * math.sin(0.05 * 2.0 * math.pi * t + self._drift_phase[0])
            pitch = self._glance[1] + 0.5 * drift * math.sin(0.037 * 2.0 * math.pi * t + self._drift_phase[1])
        yaw += self._aversion[0]
        pitch += self._aversion[1] + gaze_pitch_offset
        return _clamp(yaw, self.gaze_yaw_range), _clamp(pitch, self.gaze_pitch_range)

    # -- motion -------------------------------------------------------------------------------------
    def _plan_head(self, t: float, gaze: tuple[float, float]) -> None:
        """Let the head join if the eyes would end more than the threshold off the head's goal (the
        emotion posture included: a lowered sad head does not make the eyes look eccentric)."""
        hc = self.cfg.head
        ey = gaze[0] - self._head_goal[0] - self._posture_now[0]
        ep = gaze[1] - self._head_goal[1] - self._posture_now[1]
        ecc = math.hypot(ey, ep)
        if ecc <= hc.threshold:
            return
        lim = self.cfg.limits
        goal = (_clamp(self._head_goal[0] + hc.alignment * ey, lim.head_yaw),
                _clamp(self._head_goal[1] + hc.alignment * ep, lim.head_pitch))
        amp = math.hypot(goal[0] - self._head_goal[0], goal[1] - self._head_goal[1])
        duration = hc.base_duration + hc.per_degree * amp
        start = t + hc.latency
        for axis in range(2):
            x, v, a = self._head[axis].state(start)
            self._head[axis] = Quintic(start, x, goal[axis], duration, v, a)
        self._head_goal = goal

    def _move_eyes(self, t: float, dt: float, want: tuple[float, float]) -> tuple[float, float]:
        sc = self.cfg.saccade
        self.last_shift = 0.0
        if self._saccade is not None:
            if t < self._saccade.t1:
                return self._saccade.at(t)
            self._gaze = (self._saccade.to_yaw, self._saccade.to_pitch)
            self._saccade = None
        gy, gp = self._gaze
        err = math.hypot(want[0] - gy, want[1] - gp)
        if err > sc.threshold:
            duration = sc.base_duration + sc.per_degree * err
            self._saccade = _Saccade(t, t + duration, gy, gp, want[0], want[1])
            self.last_shift = err
            self.shifts += 1
            self._plan_head(t, want)
            return gy, gp  # s = 0 at its start: the frame shows where the saccade begins
        if err > 0.0:  # smooth pursuit
            step = min(err * min(1.0, sc.pursuit_gain * dt), sc.pursuit_max_velocity * dt)
            gy += (want[0] - gy) * step / err
            gp += (want[1] - gp) * step / err
            self._gaze = (gy, gp)
            self._plan_head(t, self._gaze)
        return gy, gp

    def _nod(self, t: float) -> float:
        nod = self.cfg.nod
        s = (t - self._nod_start) / nod.duration
        if s < 0.0:
            return 0.0
        if s >= 1.0:
            self._nod_start = math.inf
            return 0.0
        return -self._nod_amp * 0.5 * (1.0 - math.cos(2.0 * math.pi * nod.cycles * s))

    def step(self, t: float, amplitudes: np.ndarray | None = None) -> HeadGaze:
        """The head and eye angles at t; `amplitudes` are the 8 emotion track amplitudes (posture).

        Times must not go back (the synthesizer resets the controller when they do).
        """
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        self._schedule(t)
        if amplitudes is not None:
            posture = np.clip(np.nan_to_num(amplitudes[: len(self._posture)], nan=0.0), 0.0, 1.0) @ self._posture
            p_yaw, p_pitch, p_roll, g_pitch = (float(v) for v in posture)
        else:
            p_yaw = p_pitch = p_roll = g_pitch = 0.0
        self._posture_now = (p_yaw, p_pitch)
        gy, gp = self._move_eyes(t, dt, self.wanted(t, g_pitch))
        sway = [0.0, 0.0, 0.0]
        for axis in range(3):
            if self._sway_amp[axis]:
                phases = self._sway_phase[axis]
                sway[axis] = self._sway_amp[axis] * sum(
                    math.sin(w * t + ph) for w, ph in zip(self._sway_omega, phases, strict=True)) / len(phases)
        lim = self.cfg.limits
        hy = _clamp(self._head[0].state(t)[0] + p_yaw + sway[0], lim.head_yaw)
        hp = _clamp(self._head[1].state(t)[0] + p_pitch + sway[1] + self._nod(t), lim.head_pitch)
        hr = _clamp(p_roll + sway[2], lim.head_roll)
        self.pose = HeadGaze(hy, hp, hr, _clamp(gy - hy, lim.eye_yaw), _clamp(gp - hp, lim.eye_pitch))
        return self.pose
