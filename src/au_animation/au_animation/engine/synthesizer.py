"""The expression synthesizer: emotion estimates and speaking flags in, one AU vector per frame out.

Pure and deterministic: no clock, no threads, no rclpy. Callers feed events with their time
(`set_emotion`, `set_user_speaking`, `set_avatar_speaking`) and ask for frames with `step(t)`; the same
events at the same times, the same frame times and the same seed give bit-identical frames.

Frame pipeline (see docs/au_engine.md):
  emotion tracks (+ listening / thinking cues) -> blend with antagonist rule -> micro-expression flash
  -> life layer (blink, breathing, micro-motion) -> mouth arbitration -> clip to [0, 1];
  in the same frame the head and gaze layer (engine/gaze.py) turns the look-at target, the
  conversational state and the emotion amplitudes into head and eye angles (`head_gaze`), and large
  gaze shifts bring a blink.
Modes: "dynamic" (keyframed rise-hold-fall, compound blending, life layer) and "static" (the paper's
baseline: the weighted template pose, set at once and held; no life layer, cues or flashes).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
from avatar_common.emotion import CANONICAL_LABELS, Emotion, sanitize

from au_animation.engine.blend import Blender
from au_animation.engine.gaze import GazeController, HeadGaze
from au_animation.engine.life import Ambient, Blinker
from au_animation.engine.mouth import MouthArbiter
from au_animation.engine.tables import PROFILES, Tables, load_tables
from au_animation.engine.tracks import EmotionTrack, Envelope, Flash, Phase

MODES: tuple[str, ...] = ("dynamic", "static")
STALE_WINDOW = 30.0  # s: an estimate older than the last applied one by up to this much is stale
_LOG = logging.getLogger(__name__)
_SURPRISE = CANONICAL_LABELS.index("surprise")
_LISTEN, _THINK = len(CANONICAL_LABELS), len(CANONICAL_LABELS) + 1


class Synthesizer:
    """Emotion tracks, cues, life layer and mouth arbitration over a fixed AU channel layout."""

    def __init__(self, mode: str = "dynamic", profile: str = "felt", seed: int = 0, life: bool | None = None,
                 tables: Tables | None = None, intensity: float = 1.0, gaze: bool | None = None) -> None:
        """Args:
            mode: "dynamic" or "static".
            profile: "felt" (spontaneous timing) or "posed" (faster, larger).
            seed: seeds every random draw (felt jitter, blinks, micro-motion phases).
            life: life layer on/off; default on in dynamic mode, always off in static mode.
            tables: the data tables (default: the package's).
            intensity: gain on every emotion track's amplitude (cues and life layer unscaled); it may
                change between frames (`synth.intensity = 0.5`) and applies from the next frame on.
            gaze: head and gaze layer on/off; default on in dynamic mode, off in static mode (head
                and eyes then stay straight ahead).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        self.mode, self.profile, self.seed = mode, profile, int(seed)
        self.dynamic = mode == "dynamic"
        self.life = self.dynamic and (True if life is None else bool(life))
        self.gaze_on = self.dynamic if gaze is None else bool(gaze)
        self.intensity = float(intensity)
        self.tables = tables or load_tables()
        self.channels: tuple[str, ...] = self.tables.channels()
        self._index = {c: j for j, c in enumerate(self.channels)}
        protos = self.tables.prototypes
        rows = [{au: (protos.intensity(e), e.from_weight) for au, e in protos.emotions[label].aus.items()}
                for label in CANONICAL_LABELS]
        cues = self.tables.life
        rows.append({au: (v, 0.0) for au, v in cues.listening.aus.items()})
        rows.append({au: (v, 0.0) for au, v in cues.thinking.aus.items()})
        self.blender = Blender(self.channels, rows, self.tables.antagonists)
        # a micro-expression flashes the base AUs of its prototype (the from_weight == 0 ones)
        self._micro_rows = self.blender.intensity[: len(CANONICAL_LABELS)] * (
            self.blender.threshold[: len(CANONICAL_LABELS)] == 0.0)
        self.reset()

    # -- state -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the neutral start state (same seed: the same future)."""
        n = len(CANONICAL_LABELS)
        seeds = np.random.SeedSequence(self.seed).spawn(n + 4)  # children by index: adding one keeps the rest
        self.tracks = [
            EmotionTrack(label, self.tables.timing(self.profile, label), self.dynamic, np.random.default_rng(seeds[i]))
            for i, label in enumerate(CANONICAL_LABELS)
        ]
        life = self.tables.life
        self.listening = Envelope(life.listening.attack, life.listening.release)
        self.thinking = Envelope(life.thinking.attack, life.thinking.release)
        self.flash = Flash(life.micro_expression.rise, life.micro_expression.hold, life.micro_expression.fall)
        self.mouth = MouthArbiter(self.tables.mouth, self.channels)
        self.blinker = Blinker(life, np.random.default_rng(seeds[n]))
        self.ambient = Ambient(life, self.channels, np.random.default_rng(seeds[n + 1]))
        self.gaze = GazeController(rng=np.random.default_rng(seeds[n + 2]))
        self._gaze_rng = np.random.default_rng(seeds[n + 3])  # blinks with gaze shifts
        self.head_gaze = HeadGaze()
        self._amps = np.zeros(len(CANONICAL_LABELS) + 2)
        self._micro_row = self._micro_rows[0]
        self._micro_ready_at = -math.inf
        self._thinking_until = -math.inf
        self._user_speaking = False
        self._avatar_speaking = False
        self._last_t: float | None = None
        self._last_stamp = 0.0
        self.frames = 0
        self.ignored = 0
        self.micro_count = 0
        self._last = np.zeros(len(self.channels))

    def _event_time(self, t: float) -> float:
        t = float(t) if math.isfinite(float(t)) else (self._last_t or 0.0)
        return t if self._last_t is None else max(t, self._last_t)

    # -- inputs ------------------------------------------------------------------------------------
    def set_emotion(self, emotion: Emotion, t: float) -> bool:
        """Apply a validated estimate (avatar_common.emotion.sanitize) at time t; False if ignored.

        Labels the estimate does not list fall to 0. An estimate whose stamp is older than one already
        applied (by at most STALE_WINDOW s) is stale and ignored (out-of-order delivery); stamp 0 or a
        non-finite stamp means "unknown" and is accepted; a much older stamp (a reset clock, a bag
        loop) or a bogus far-future one cannot block later estimates.
        """
        stamp = emotion.stamp if math.isfinite(emotion.stamp) else 0.0
        if 0.0 < stamp < self._last_stamp and self._last_stamp - stamp <= STALE_WINDOW:
            self.ignored += 1
            return False
        if stamp > 0.0:
            self._last_stamp = stamp  # newer, or far older (a reset clock): take it as the reference
        t = self._event_time(t)
        for track in self.tracks:
            track.set_target(float(emotion.weights.get(track.label, 0.0)), t)
        if self.dynamic:
            self.thinking.set(0.0, t)  # the next affect estimate ends the thinking cue
            self._thinking_until = -math.inf
            if emotion.micro_expression and emotion.micro_intensity > 0.0:
                self.flash_micro(emotion.micro_expression, emotion.micro_intensity, t)
        return True

    def set_weights(self, weights: Mapping[str, object], t: float, micro_expression: str = "",
                    micro_intensity: float = 0.0, stamp: float = 0.0) -> bool:
        """Convenience: validate raw label -> weight pairs (hostile input allowed) and apply them."""
        emotion, _ = sanitize(list(weights), list(weights.values()), micro_expression=micro_expression,
                              micro_intensity=micro_intensity, stamp=stamp)
        return self.set_emotion(emotion, t)

    def flash_micro(self, label: str, intensity: float, t: float) -> bool:
        """Play a micro-expression of `label` (a canonical label) over the current face; False if refused."""
        if not self.dynamic or label not in CANONICAL_LABELS:
            return False
        t = self._event_time(t)
        if t < self._micro_ready_at or self.flash.active(t):
            return False
        cfg = self.tables.life.micro_expression
        peak = cfg.peak_scale * min(1.0, max(0.0, float(intensity)))
        if not peak > 0.0:
            return False
        self._micro_row = self._micro_rows[CANONICAL_LABELS.index(label)]
        self.flash.trigger(peak, t)
        self._micro_ready_at = t + cfg.rise + cfg.hold + cfg.fall + cfg.refractory
        self.micro_count += 1
        return True

    def set_user_speaking(self, speaking: bool, t: float) -> None:
        """speech/user_speaking: listening face while true; thinking cue after it turns false."""
        t = self._event_time(t)
        speaking = bool(speaking)
        if not self.dynamic or speaking == self._user_speaking:
            self._user_speaking = speaking
            return
        self._user_speaking = speaking
        self.listening.set(1.0 if speaking else 0.0, t)
        if speaking:
            self.thinking.set(0.0, t)
            self._thinking_until = -math.inf
        else:
            self.thinking.set(1.0, t)
            self._thinking_until = t + float(self.tables.life.thinking.timeout or 4.0)
            if self.gaze_on:
                self.gaze.pause(t)  # the person paused: maybe a listening nod

    def set_avatar_speaking(self, speaking: bool, t: float) -> None:
        """avatar/speaking: cap the lower face for lip-sync while true."""
        self._avatar_speaking = bool(speaking)
        self.mouth.set_speaking(self._avatar_speaking, self._event_time(t))

    def set_look_at(self, yaw: float | None, pitch: float | None = 0.0) -> bool:
        """The person's direction in degrees (head frame, yaw > 0 to the character's left, pitch > 0 up),
        or None when nobody is there; from the next frame on. False if ignored (not finite)."""
        return self.gaze.set_target(yaw, pitch)

    # -- frames ------------------------------------------------------------------------------------
    def step_array(self, t: float) -> np.ndarray:
        """The AU vector at time t (float64 array in `channels` order, each in [0, 1])."""
        t = float(t)
        if not math.isfinite(t):
            return self._last.copy()
        if self._last_t is not None and t < self._last_t:
            _LOG.warning("time went back from %.3f to %.3f s: synthesizer reset", self._last_t, t)
            self.reset()
        self._last_t = t
        amps = self._amps
        for i, track in enumerate(self.tracks):
            amps[i] = track.curve(t) * self.intensity
        if self.dynamic:
            if t >= self._thinking_until:
                self.thinking.set(0.0, t)
                self._thinking_until = math.inf
            amps[_LISTEN] = self.listening(t)
            amps[_THINK] = self.thinking(t)
        total = self.blender.blend(amps)
        if self.gaze_on:
            self._step_gaze(t)
        if self.dynamic and t < self.flash.curve.t_end:
            total += self.flash(t) * self._micro_row
        if self.life:
            total[self._index["AU45"]] += self.blinker(t, amps[_SURPRISE])
            total += self.ambient(t)
        self.mouth.apply(total, t)
        np.clip(total, 0.0, 1.0, out=total)
        self.frames += 1
        self._last = total
        return total

    def _step_gaze(self, t: float) -> None:
        """Head and eyes for this frame; a large gaze shift schedules a blink now (Evinger et al. 1994)."""
        gaze = self.gaze
        if self.dynamic and self.thinking.target > 0.0:
            state = "thinking"
        elif gaze.target is None:
            state = "idle"
        else:
            state = "speaking" if self._avatar_speaking else "listening"
        gaze.set_state(state, t)
        self.head_gaze = gaze.step(t, self._amps)
        cfg = gaze.cfg.blink
        if self.life and gaze.last_shift >= cfg.min_amplitude and float(self._gaze_rng.random()) < cfg.probability:
            self.blinker.next_at = min(self.blinker.next_at, t)

    def step(self, t: float) -> dict[str, float]:
        """The AU vector at time t as {channel: value}."""
        return dict(zip(self.channels, self.step_array(t).tolist(), strict=True))

    # -- introspection -----------------------------------------------------------------------------
    def phases(self, t: float) -> dict[str, Phase]:
        """The state-machine phase of every emotion track at t."""
        return {track.label: track.phase(t) for track in self.tracks}

    def amplitudes(self) -> dict[str, float]:
        """Track amplitudes of the last frame."""
        return {label: float(self._amps[i]) for i, label in enumerate(CANONICAL_LABELS)}
