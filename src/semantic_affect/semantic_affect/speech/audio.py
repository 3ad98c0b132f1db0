"""Audio conversion for the speech pipeline: PCM bytes <-> float, downmix, streaming resampling,
clipping statistics and block-wise file reading (bounded memory for very long files).

Everything works on float32 samples in [-1, 1]; the speech models run at 16 kHz mono.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

TARGET_RATE = 16000
CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped (full scale after S16 rounding)


class AudioFormatError(ValueError):
    """Input that is not usable audio (unreadable file, bad encoding, impossible sizes)."""


def pcm16_to_float(data: bytes | bytearray | memoryview | np.ndarray, channels: int = 1) -> np.ndarray:
    """S16LE bytes -> float32 array of shape (frames, channels) in [-1, 1).

    A trailing partial frame is dropped (it cannot be placed in time); channels < 1 is an error.
    """
    if channels < 1:
        raise AudioFormatError(f"channels must be >= 1, got {channels}")
    raw = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray) else data.tobytes(), dtype="<i2")
    frames = raw.size // channels
    return (raw[: frames * channels].astype(np.float32) / 32768.0).reshape(frames, channels)


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float samples (any shape, interleaved if 2-D) -> S16LE bytes; values beyond full scale clip."""
    x = np.clip(np.nan_to_num(np.asarray(samples, dtype=np.float32)), -1.0, 32767.0 / 32768.0)
    return np.round(x * 32768.0).astype("<i2").tobytes()


def downmix(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) -> mono float32 (mean of the channels)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 1:
        return x
    if x.shape[1] == 1:
        return x[:, 0]
    return x.mean(axis=1, dtype=np.float32)


def clipped_fraction(samples: np.ndarray) -> float:
    """Fraction of samples at full scale: a clipping indicator for diagnostics."""
    x = np.asarray(samples)
    return float(np.mean(np.abs(x) >= CLIP_LEVEL)) if x.size else 0.0


def resample(samples: np.ndarray, rate_in: int, rate_out: int = TARGET_RATE) -> np.ndarray:
    """Offline polyphase resampling of a mono signal (scipy.signal.resample_poly)."""
    if rate_in == rate_out:
        return np.asarray(samples, dtype=np.float32)
    g = gcd(int(rate_in), int(rate_out))
    return resample_poly(samples, rate_out // g, rate_in // g).astype(np.float32)


class StreamResampler:
    """Polyphase resampling of a mono stream, block by block, equal to resampling it in one go.

    resample_poly's output sample j sits at input position j*down/up and depends on the inputs
    within half its filter length, so each block is resampled from a window that starts on a phase-
    aligned input index (a multiple of `down`) `margin` samples early, and outputs are released only
    when `margin` future inputs exist. Latency: `margin` input samples (about 1-2 ms); memory: one
    block plus two margins.
    """

    def __init__(self, rate_in: int, rate_out: int = TARGET_RATE) -> None:
        if rate_in <= 0 or rate_out <= 0:
            raise AudioFormatError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
        g = gcd(int(rate_in), int(rate_out))
        self.rate_in, self.rate_out = int(rate_in), int(rate_out)
        self.up, self.down = self.rate_out // g, self.rate_in // g
        half_len = 10 * max(self.up, self.down)  # resample_poly's default filter half length
        self.margin = half_len // self.up + 2
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # absolute input index of _buf[0]
        self._next_out = 0  # absolute index of the next output sample

    @property
    def passthrough(self) -> bool:
        return self.up == self.down

    def process(self, samples: np.ndarray, final: bool = False) -> np.ndarray:
        """Push mono input; return the output samples that are now fully determined.

        With `final=True` the stream ends: the rest is released as if followed by zeros (which is
        what resample_poly assumes at the end of a signal).
        """
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self.passthrough:
            return x.copy()
        self._buf = np.concatenate([self._buf, x]) if self._buf.size else x.copy()
        n_in = self._buf_start + self._buf.size  # total inputs so far
        # final: ceil(n_in*up/down), resample_poly's length; else output j is complete once input
        # j*down/up + margin exists
        last_out = -(-n_in * self.up // self.down) if final else max(0, ((n_in - self.margin) * self.up) // self.down)
        if last_out <= self._next_out:
            return np.zeros(0, dtype=np.float32)
        first_in = (self._next_out * self.down) // self.up - self.margin
        seg_start = max(0, (first_in // self.down) * self.down)
        seg_start = max(seg_start, self._buf_start)
        seg_end = n_in if final else min(n_in, -(-(last_out * self.down) // self.up) + self.margin)
        seg = self._buf[seg_start - self._buf_start: seg_end - self._buf_start]
        y = resample_poly(seg, self.up, self.down).astype(np.float32)
        offset = seg_start * self.up // self.down  # global index of y[0]
        lo, hi = self._next_out - offset, last_out - offset
        if final and hi > y.size:
            y = np.concatenate([y, np.zeros(hi - y.size, dtype=np.float32)])
        out = y[lo:hi]
        self._next_out = last_out
        # keep what the next window needs: from the aligned start before the next output's margin
        keep_from = ((self._next_out * self.down) // self.up - self.margin) // self.down * self.down
        keep_from = max(self._buf_start, keep_from)
        self._buf = self._buf[keep_from - self._buf_start:]
        self._buf_start = keep_from
        return out


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, from its header."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _soundfile():
    import soundfile  # libsndfile ships in the wheel; imported here to keep module import cheap

    return soundfile


def probe(path: str | Path) -> AudioInfo:
    """Header of an audio file; AudioFormatError with a clear reason when it is not audio."""
    p = Path(path)
    if not p.is_file():
        raise AudioFormatError(f"{p}: no such file")
    sf = _soundfile()
    try:
        info = sf.info(str(p))
    except Exception as exc:  # libsndfile raises its own error type for every unreadable input
        raise AudioFormatError(f"{p}: not a readable audio file ({exc})") from exc
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioFormatError(f"{p}: invalid header (rate {info.samplerate}, channels {info.channels})")
    return AudioInfo(str(p), int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def iter_blocks(path: str | Path, block_frames: int) -> Iterator[np.ndarray]:
    """float32 blocks of shape (frames, channels) from an audio file, one block in memory at a time."""
    info = probe(path)
    sf = _soundfile()
    try:
        with sf.SoundFile(info.path) as f:
            while True:
                block = f.read(block_frames, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    return
                yield block
    except AudioFormatError:
        raise
    except Exception as exc:
        raise AudioFormatError(f"{path}: decoding failed ({exc})") from exc


def read_mono(path: str | Path, rate: int = TARGET_RATE) -> np.ndarray:
    """Whole file as mono float32 at `rate` (for short clips, tests and prosody)."""
    info = probe(path)
    resampler = StreamResampler(info.sample_rate, rate)
    parts = [resampler.process(downmix(b)) for b in iter_blocks(path, 1 << 16)]
    parts.append(resampler.process(np.zeros(0, dtype=np.float32), final=True))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class MonoConverter:
    """Any AudioChunk-like input (rate, channels, float frames) -> mono float32 at 16 kHz, streaming.

    A change of input rate mid-stream restarts the resampler (a few ms of filter state lost).
    """

    def __init__(self, rate_out: int = TARGET_RATE) -> None:
        self.rate_out = rate_out
        self._resampler: StreamResampler | None = None
        self.clipped = 0
        self.samples = 0

    def process(self, frames: np.ndarray, rate: int) -> np.ndarray:
        if self._resampler is None or self._resampler.rate_in != rate:
            self._resampler = StreamResampler(rate, self.rate_out)
        x = np.asarray(frames, dtype=np.float32)
        self.clipped += int(np.count_nonzero(np.abs(x) >= CLIP_LEVEL))
        self.samples += int(x.size)
        return self._resampler.process(downmix(x))
