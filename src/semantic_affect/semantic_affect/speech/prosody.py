"""Vocal prosody of one utterance -> arousal (and a deliberately neutral valence), low confidence.

Method
- Frames of 25 ms every 10 ms. f0 by YIN (de Cheveigne & Kawahara 2002): cumulative-mean-normalised
  difference function, first dip under 0.15 in 60-450 Hz, parabolic refinement; a frame is voiced
  when the dip exists and its level is within 35 dB of the utterance's loudest frame.
- Pitch in semitones re 100 Hz: median (level) and 10-90 % range (excursion).
- Energy: mean RMS level (dBFS) of the active frames (within 30 dB of the loudest).
- Speaking rate: syllables per second of speech; syllables counted from the transcript (vowel
  groups) when there is one, else acoustic syllable nuclei (energy peaks in voiced stretches,
  after de Jong & Wempe 2009).
- Arousal rises with loudness, pitch level, pitch range and rate (Banse & Scherer 1996; Juslin &
  Laukka 2003). Each cue is a z-score against this speaker's running baseline (population priors
  until a few utterances are known), combined linearly and squashed with tanh.

Limits (why confidence stays at or below 0.35): level depends on microphone gain and distance, so
it only means something relative to the same session; pitch level differs by speaker (the first
utterances define the baseline); syllable counts from text or energy peaks are approximations; read
or synthetic speech carries little emotion. Valence is not defensible from these cues (they mostly
track activation, cross-corpus valence from prosody is near chance), so it is reported as 0 and
the text channel is expected to carry it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

RATE = 16000
FRAME = 400  # 25 ms
HOP = 160  # 10 ms
F0_MIN, F0_MAX = 60.0, 450.0
YIN_THRESHOLD = 0.15


@dataclass(frozen=True)
class ProsodyFeatures:
    duration_s: float
    voiced_s: float
    f0_mean_hz: float  # 0 when no voiced frame
    f0_median_st: float  # semitones re 100 Hz
    f0_range_st: float  # 10-90 % range
    energy_db: float  # dBFS of active frames
    rate_sps: float  # syllables per second of speech
    syllables: int

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 3) for k, v in asdict(self).items()}


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    if x.size < length:
        x = np.pad(x, (0, length - x.size))
    n = 1 + (x.size - length) // hop
    return np.lib.stride_tricks.sliding_window_view(x, length)[::hop][:n]


def frame_levels_db(x: np.ndarray) -> np.ndarray:
    """RMS level per 25 ms frame (10 ms hop), dBFS."""
    frames = _frames(np.asarray(x, dtype=np.float64), FRAME, HOP)
    return 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)


def yin_f0(x: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, np.ndarray]:
    """f0 (Hz, 0 where unvoiced) and aperiodicity (CMNDF dip) per 10 ms frame."""
    x = np.asarray(x, dtype=np.float64)
    tau_min = int(rate / F0_MAX)
    tau_max = int(rate / F0_MIN)
    w = FRAME
    frames = _frames(x, w + tau_max, HOP)
    n = frames.shape[0]
    nfft = 1 << int(np.ceil(np.log2(2 * (w + tau_max))))
    a = np.fft.rfft(frames[:, :w], nfft)
    b = np.fft.rfft(frames, nfft)
    r = np.fft.irfft(np.conj(a) * b, nfft)[:, : tau_max + 1]  # r[tau] = sum_j x_j x_{j+tau}
    sq = frames ** 2
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(sq, axis=1)], axis=1)
    e1 = csum[:, w][:, None]
    taus = np.arange(tau_max + 1)
    e2 = csum[:, taus + w] - csum[:, taus]
    d = np.maximum(e1 + e2 - 2.0 * r, 0.0)
    d[:, 0] = 0.0
    cum = np.cumsum(d[:, 1:], axis=1)
    cmndf = np.ones_like(d)
    cmndf[:, 1:] = d[:, 1:] * taus[1:] / np.maximum(cum, 1e-12)
    f0 = np.zeros(n)
    aper = np.ones(n)
    region = cmndf[:, tau_min: tau_max]
    below = region < YIN_THRESHOLD
    has = below.any(axis=1)
    first = np.argmax(below, axis=1)
    for i in np.nonzero(has)[0]:
        t = first[i]
        while t + 1 < region.shape[1] and region[i, t + 1] < region[i, t]:
            t += 1
        tau = t + tau_min
        if 1 <= tau < tau_max:
            y0, y1, y2 = cmndf[i, tau - 1], cmndf[i, tau], cmndf[i, tau + 1]
            denom = y0 - 2 * y1 + y2
            shift = 0.5 * (y0 - y2) / denom if abs(denom) > 1e-12 else 0.0
            tau_f = tau + float(np.clip(shift, -1.0, 1.0))
        else:
            tau_f = float(tau)
        f0[i] = rate / tau_f
        aper[i] = region[i, t]
    return f0, aper


_VOWEL_GROUP = re.compile(r"[aeiouy]+")


def count_syllables(text: str) -> int:
    """English syllables by vowel groups (silent final e discounted); an estimate for rate only."""
    total = 0
    for word in re.findall(r"[a-z']+", text.lower()):
        groups = len(_VOWEL_GROUP.findall(word))
        if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
            groups -= 1
        total += max(1, groups)
    return total


def acoustic_syllables(levels_db: np.ndarray, voiced: np.ndarray) -> int:
    """Syllable nuclei: peaks of the smoothed level in voiced frames, 2 dB above the dips around."""
    if levels_db.size < 3:
        return 0
    smooth = np.convolve(levels_db, np.ones(5) / 5.0, mode="same")
    count, last_min, peak_armed = 0, smooth[0], False
    for i in range(1, smooth.size - 1):
        if smooth[i] < last_min:
            last_min = smooth[i]
        if smooth[i] >= smooth[i - 1] and smooth[i] > smooth[i + 1] and voiced[i] and smooth[i] - last_min >= 2.0:
            count += 1
            last_min = smooth[i]
            peak_armed = True
        elif peak_armed and smooth[i] < last_min:
            last_min = smooth[i]
    return count


def features(audio: np.ndarray, text: str = "", rate: int = RATE) -> ProsodyFeatures | None:
    """Prosodic features of one utterance, or None when it holds less than 0.2 s of voicing."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size < FRAME * 2 or not np.all(np.isfinite(x)):
        return None
    levels = frame_levels_db(x)
    f0, _ = yin_f0(x, rate)
    n = min(levels.size, f0.size)
    levels, f0 = levels[:n], f0[:n]
    loudest = float(levels.max())
    active = levels > loudest - 30.0
    voiced = (f0 > 0) & (levels > loudest - 35.0) & (levels > -65.0)
    voiced_s = float(voiced.sum()) * HOP / rate
    if voiced_s < 0.2:
        return None
    st = 12.0 * np.log2(f0[voiced] / 100.0)
    lo, med, hi = np.percentile(st, [10, 50, 90])
    energy = float(10.0 * np.log10(np.mean(10.0 ** (levels[active] / 10.0)) + 1e-12))
    idx = np.nonzero(active)[0]
    speech_s = max(0.1, (idx[-1] - idx[0] + 1) * HOP / rate) if idx.size else 0.1
    syllables = count_syllables(text) if len(text.split()) >= 2 else acoustic_syllables(levels, voiced)
    return ProsodyFeatures(
        duration_s=x.size / rate, voiced_s=voiced_s, f0_mean_hz=float(np.mean(f0[voiced])),
        f0_median_st=float(med), f0_range_st=float(hi - lo), energy_db=energy,
        rate_sps=float(syllables / speech_s), syllables=int(syllables),
    )


# Cue weights for arousal and the spreads that make a z-score (population values as priors).
_WEIGHTS = {"energy_db": 0.35, "f0_median_st": 0.30, "f0_range_st": 0.20, "rate_sps": 0.15}
_PRIOR_MEAN = {"energy_db": -26.0, "f0_median_st": None, "f0_range_st": 5.0, "rate_sps": 4.5}
_PRIOR_SD = {"energy_db": 4.0, "f0_median_st": 2.0, "f0_range_st": 2.0, "rate_sps": 1.0}


@dataclass(frozen=True)
class VoiceAffect:
    arousal: float
    valence: float
    confidence: float
    cues: dict[str, float]  # z-score of each cue against the baseline


class ProsodyBaseline:
    """Running per-speaker baseline; `affect()` scores an utterance against it, then learns it.

    Means start from population priors (pitch level from the first utterance, since it depends on
    the speaker) and follow an exponential average (alpha 0.2) after; spreads stay at the priors,
    which keeps one odd utterance from inflating later z-scores.
    """

    def __init__(self, alpha: float = 0.2, max_confidence: float = 0.35) -> None:
        self.alpha = alpha
        self.max_confidence = max_confidence
        self.count = 0
        self.mean: dict[str, float | None] = dict(_PRIOR_MEAN)

    def affect(self, f: ProsodyFeatures, learn: bool = True) -> VoiceAffect:
        cues: dict[str, float] = {}
        score = 0.0
        for name, weight in _WEIGHTS.items():
            value = float(getattr(f, name))
            mean = self.mean[name]
            z = 0.0 if mean is None else float(np.clip((value - mean) / _PRIOR_SD[name], -3.0, 3.0))
            cues[name] = round(z, 3)
            score += weight * z
        arousal = float(math.tanh(score))
        maturity = min(1.0, self.count / 5.0)
        voicing = min(1.0, f.voiced_s / 1.0)
        confidence = self.max_confidence * (0.3 + 0.7 * maturity) * voicing
        if learn:
            self.learn(f)
        return VoiceAffect(arousal=arousal, valence=0.0, confidence=float(confidence), cues=cues)

    def learn(self, f: ProsodyFeatures) -> None:
        for name in _WEIGHTS:
            value = float(getattr(f, name))
            mean = self.mean[name]
            self.mean[name] = value if mean is None else (1 - self.alpha) * mean + self.alpha * value
        self.count += 1
