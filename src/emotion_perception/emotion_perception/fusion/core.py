"""Multimodal emotion fusion: text, voice and face estimates -> one compound emotion.

Pure and deterministic: no rclpy, no wall clock; the caller passes the time `now` (seconds, any
epoch, the same clock as the estimates' stamps). Each modality m (text, voice, face, or any name in
the parameter file) holds one current estimate: weights w_m[k] over the canonical labels, valence
v_m, arousal a_m, confidence c_m, stamp t_m (clamped to `now` when it comes from the future; an
unset stamp means "now").

Formula, at time t::

    d_m(t)   = 2 ** (-(t - t_m) / h_m)                decay by age, half-life h_m per modality
    alpha_m  = W_m * c_m * d_m(t)                     modality weight x confidence x decay
    A        = sum_m alpha_m                          (only modalities that list labels count here)
    N        = max(0, A_min - A)                      missing evidence, filled with neutral
    f[k]     = (sum_m alpha_m * w_m[k] + N * [k == neutral]) / (A + N)
    valence  = sum_m alpha_m * v_m / (A' + N')        (A', N' over every modality, neutral = 0)
    arousal  = sum_m alpha_m * a_m / (A' + N')
    conf     = 1 - prod_m (1 - c_m * d_m(t))          noisy-OR of the decayed confidences

Every label keeps its own weighted mean, so co-occurring emotions stay co-occurring (no argmax);
all outputs are convex combinations of valid values and so stay in range. A fresh, confident
estimate alone (A >= A_min) passes through unchanged; as estimates age or go silent, A falls below
A_min and the state relaxes towards neutral with each modality's half-life.

Update rules:

- text, voice (smoothing_tau_s = 0): a new estimate replaces the previous one, so the latest
  utterance wins; an estimate stamped before the current one (a slow reply to an older utterance)
  is dropped.
- face (smoothing_tau_s = tau > 0): frames are averaged as evidence e = c * w with an EMA,
  beta = 1 - exp(-min(dt, max_dt) / tau), the previous state first decayed over the part of the
  gap beyond max_dt, d_prev = 2 ** (-max(0, dt - max_dt) / h):
  c' = (1 - beta) * c_prev * d_prev + beta * c_new,
  w' = ((1 - beta) * c_prev * d_prev * w_prev + beta * c_new * w_new) / c'  (same for v, a),
  so one noisy frame barely moves the state and a face that appears fades in.
- Valence/arousal of an estimate with labels but v = a = 0 (a classifier without a V/A head) are
  the labels' circumplex point (avatar_common.emotion.valence_arousal), when enabled.

`PublishPolicy` decides when the node publishes: at once when the utterance or a micro-expression
is new or any output moved by change_threshold, otherwise at publish_rate_hz.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from avatar_common.emotion import CANONICAL_LABELS, Emotion, sanitize, valence_arousal

from emotion_perception.fusion.params import FusionParams, ModalityParams, default_params

SOURCE = "fused"
STALE_WARNING_S = 60.0  # an estimate this old on arrival most likely comes from another clock


@dataclass
class _Slot:
    """The current (possibly smoothed) estimate of one modality."""

    weights: dict[str, float]
    has_labels: bool
    valence: float
    arousal: float
    confidence: float
    stamp: float
    utterance_id: str
    stamped: bool = True  # False: the sender left the stamp unset and the time of receipt stands in


@dataclass(frozen=True)
class Fused:
    """One fused state: the Emotion (source "fused") and each modality's share alpha_m."""

    emotion: Emotion
    alphas: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (labels in canonical order)."""
        e = self.emotion
        return {
            "t": round(e.stamp, 6),
            "labels": list(CANONICAL_LABELS),
            "weights": [round(e.weights.get(k, 0.0), 6) for k in CANONICAL_LABELS],
            "valence": round(e.valence, 6),
            "arousal": round(e.arousal, 6),
            "confidence": round(e.confidence, 6),
            "utterance_id": e.utterance_id,
            "micro_expression": e.micro_expression,
            "micro_intensity": round(e.micro_intensity, 6),
            "alphas": {m: round(a, 6) for m, a in self.alphas.items()},
        }


class EmotionFuser:
    """Holds the current estimate per modality and computes the fused state at a given time."""

    def __init__(self, params: FusionParams | None = None) -> None:
        self.params = params or default_params()
        self._slots: dict[str, _Slot] = {}
        self._now = -math.inf
        self._micro: tuple[str, float, float] | None = None  # label, intensity, stamp
        self.counts: dict[str, int] = {"accepted": 0, "dropped": 0, "fixed": 0}

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.params.modalities)

    def _advance(self, now: float) -> float:
        """Time never runs backwards inside the fuser; a non-finite time is an error of the caller."""
        now = float(now)
        if not math.isfinite(now):
            raise ValueError(f"time must be finite, got {now!r}")
        self._now = max(self._now, now)
        return self._now

    def reset(self) -> None:
        self._slots.clear()
        self._micro = None

    # -- input -----------------------------------------------------------------------------------
    def ingest(self, modality: str, estimate: Emotion, now: float) -> list[str]:
        """Take one estimate of `modality` received at `now`; returns the problems fixed or why dropped."""
        now = self._advance(now)
        cfg = self.params.modalities.get(modality)
        if cfg is None:
            self.counts["dropped"] += 1
            return [f"unknown modality {str(modality)[:40]!r}: estimate dropped"]
        # Re-validate: an Emotion built by hand need not hold the invariants sanitize() guarantees.
        clean, problems = sanitize(
            list(estimate.weights.keys()), list(estimate.weights.values()),
            estimate.valence, estimate.arousal, estimate.confidence,
            utterance_id=estimate.utterance_id, stamp=estimate.stamp,
            micro_expression=estimate.micro_expression, micro_intensity=estimate.micro_intensity,
        )
        stamp = clean.stamp
        if stamp <= 0.0:
            stamp = now
            problems.append("stamp 0 (unset): time of receipt used")
        elif stamp > now:
            problems.append(f"stamp {stamp - now:.3f} s in the future clamped to now")
            stamp = now
        elif now - stamp > STALE_WARNING_S:
            problems.append(f"stamp {now - stamp:.0f} s old (clocks out of step?): counts with its decayed weight")
        valence, arousal = clean.valence, clean.arousal
        has_labels = bool(clean.weights)
        if self.params.derive_va_from_labels and has_labels and valence == 0.0 and arousal == 0.0:
            valence, arousal = valence_arousal(clean.weights)
        if clean.micro_expression and clean.micro_intensity > 0.0:
            self._micro = (clean.micro_expression, clean.micro_intensity, stamp)
        new = _Slot(dict(clean.weights), has_labels, valence, arousal, clean.confidence, stamp, clean.utterance_id,
                    stamped=clean.stamp > 0.0)
        old = self._slots.get(modality)
        # A receipt time is later than the true time of the estimate: it must not make a properly
        # stamped estimate that arrives after it look out of order (a sender with unset stamps would
        # otherwise block a slow analyser's results, e.g. an LLM's).
        if old is not None and old.stamped and stamp < old.stamp:
            self.counts["dropped"] += 1
            problems.append(f"{modality} estimate {old.stamp - stamp:.3f} s older than the current one: dropped")
            return problems
        if old is not None and cfg.smoothing_tau_s > 0.0:
            new = _smooth(old, new, cfg)
        elif old is None and cfg.smoothing_tau_s > 0.0:
            new = _smooth(None, new, cfg)
        self._slots[modality] = new
        self.counts["accepted"] += 1
        if problems:
            self.counts["fixed"] += 1
        return problems

    # -- output ----------------------------------------------------------------------------------
    def fuse(self, now: float) -> Fused:
        """The fused state at `now` (does not consume a pending micro-expression)."""
        now = self._advance(now)
        p = self.params
        sums = dict.fromkeys(CANONICAL_LABELS, 0.0)
        a_labels = a_all = v_sum = ar_sum = 0.0
        not_conf = 1.0
        alphas: dict[str, float] = {}
        freshest_id, freshest_stamp = "", -math.inf
        for name in list(self._slots):
            slot = self._slots[name]
            cfg = p.modalities[name]
            decay = 2.0 ** (-(now - slot.stamp) / cfg.half_life_s)
            if decay < p.drop_below:
                del self._slots[name]  # forgotten: the modality has dropped out
                continue
            alpha = cfg.weight * slot.confidence * decay
            alphas[name] = alpha
            not_conf *= 1.0 - slot.confidence * decay
            a_all += alpha
            v_sum += alpha * slot.valence
            ar_sum += alpha * slot.arousal
            if slot.has_labels:
                a_labels += alpha
                for k, w in slot.weights.items():
                    sums[k] += alpha * w
            if slot.utterance_id and alpha > 0.0 and slot.stamp > freshest_stamp:
                freshest_id, freshest_stamp = slot.utterance_id, slot.stamp
        floor = p.evidence_floor
        sums["neutral"] += max(0.0, floor - a_labels)
        denom = max(a_labels, floor)
        weights = {k: _unit(s / denom) for k, s in sums.items()}
        denom_va = max(a_all, floor)
        micro, micro_i = "", 0.0
        if self._micro is not None and now - self._micro[2] <= p.micro_window_s:
            micro, micro_i = self._micro[0], self._micro[1]
        emotion = Emotion(
            weights=weights,
            valence=_bounded(v_sum / denom_va),
            arousal=_bounded(ar_sum / denom_va),
            confidence=_unit(1.0 - not_conf),
            source=SOURCE,
            utterance_id=freshest_id,
            stamp=now,
            micro_expression=micro,
            micro_intensity=micro_i,
        )
        return Fused(emotion, alphas)

    def consume_micro(self) -> None:
        """The pending micro-expression was sent; do not send it again."""
        self._micro = None


def _smooth(old: _Slot | None, new: _Slot, cfg: ModalityParams) -> _Slot:
    """EMA of confidence-weighted evidence; the previous state decays by its age first."""
    if old is None:
        dt, prev_c = cfg.smoothing_max_dt_s, 0.0
    else:
        gap = max(new.stamp - old.stamp, 0.0)
        dt = min(gap, cfg.smoothing_max_dt_s)
        # Only the part of a gap beyond max_dt decays the previous state: a steady stream converges
        # to the frames' confidence, a face that was gone for a while fades back in.
        prev_c = old.confidence * 2.0 ** (-(gap - dt) / cfg.half_life_s)
    beta = 1.0 - math.exp(-dt / cfg.smoothing_tau_s)
    e_old, e_new = (1.0 - beta) * prev_c, beta * new.confidence
    c = e_old + e_new
    if c <= 0.0 or old is None:
        weights, valence, arousal = new.weights, new.valence, new.arousal
    else:
        labels = set(old.weights) | set(new.weights)
        weights = {k: _unit((e_old * old.weights.get(k, 0.0) + e_new * new.weights.get(k, 0.0)) / c)
                   for k in labels}
        valence = _bounded((e_old * old.valence + e_new * new.valence) / c)
        arousal = _bounded((e_old * old.arousal + e_new * new.arousal) / c)
    return _Slot(weights, new.has_labels or (old is not None and old.has_labels), valence, arousal,
                 _unit(c), new.stamp, new.utterance_id or (old.utterance_id if old else ""), new.stamped)


def _unit(x: float) -> float:
    return 0.0 if math.isnan(x) else min(1.0, max(0.0, x))


def _bounded(x: float) -> float:
    return 0.0 if math.isnan(x) else min(1.0, max(-1.0, x))


class PublishPolicy:
    """When to publish a fused state: on a meaningful change at once, otherwise at a steady rate."""

    def __init__(self, change_threshold: float, publish_rate_hz: float) -> None:
        self.change_threshold = float(change_threshold)
        self.period = 1.0 / float(publish_rate_hz)
        self._last: Emotion | None = None
        self._last_t = -math.inf

    def decide(self, fused: Emotion, now: float) -> str | None:
        """The reason to publish `fused` now ("first", "utterance", "micro", "change", "steady") or None."""
        last = self._last
        if last is None:
            return "first"
        if fused.utterance_id != last.utterance_id and fused.utterance_id:
            return "utterance"
        if fused.micro_expression and fused.micro_expression != last.micro_expression:
            return "micro"
        moved = change(last, fused)
        if moved > 0.0 and moved >= self.change_threshold:
            return "change"
        if now - self._last_t >= self.period - 1e-9:
            return "steady"
        return None

    def sent(self, fused: Emotion, now: float) -> None:
        self._last, self._last_t = fused, now


def change(a: Emotion, b: Emotion) -> float:
    """Largest absolute difference of any weight, valence, arousal or confidence."""
    labels = set(a.weights) | set(b.weights)
    diffs = [abs(a.weights.get(k, 0.0) - b.weights.get(k, 0.0)) for k in labels]
    diffs += [abs(a.valence - b.valence), abs(a.arousal - b.arousal), abs(a.confidence - b.confidence)]
    return max(diffs)
