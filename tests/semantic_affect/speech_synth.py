"""Test speech made on the spot with espeak-ng: sentences, pauses, and the true speech boundaries.

Boundaries come from the synthesised waveform itself (first and last 10 ms frame above -40 dBFS
in each sentence's clip), independent of the VAD under test.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

RATE = 16000

SENTENCES = [
    "Hello there, how are you doing today?",
    "Can you tell me the way to the train station?",
    "Please turn off the lights when you leave the room.",
    "I am really happy to see you again.",
]


def require_espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    return exe


def synth(text: str, speed: int = 160, pitch: int = 50, amplitude: int = 100, voice: str = "en-us") -> np.ndarray:
    """One sentence, 16 kHz mono float32."""
    exe = require_espeak()
    out = subprocess.run([exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude),
                          "--stdout", text], capture_output=True, check=True).stdout
    x, sr = sf.read(io.BytesIO(out), dtype="float32")
    return resample_poly(x, RATE, sr).astype(np.float32) if sr != RATE else x


def speech_bounds(x: np.ndarray, rate: int = RATE, floor_db: float = -40.0) -> tuple[float, float]:
    """First and last 10 ms frame above floor_db (dBFS), in seconds."""
    hop = rate // 100
    n = x.size // hop
    levels = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    idx = np.nonzero(levels > floor_db)[0]
    return float(idx[0] * hop / rate), float((idx[-1] + 1) * hop / rate)


@dataclass
class Conversation:
    audio: np.ndarray  # 16 kHz mono
    texts: list[str]
    bounds: list[tuple[float, float]]  # true (start, end) of each sentence, s

    @property
    def duration(self) -> float:
        return self.audio.size / RATE


def conversation(texts: list[str] | None = None, pause_s: float = 1.2, lead_s: float = 0.8,
                 tail_s: float = 1.5, **kw: object) -> Conversation:
    texts = texts or SENTENCES
    parts, bounds, t = [np.zeros(int(lead_s * RATE), np.float32)], [], lead_s
    for i, text in enumerate(texts):
        clip = synth(text, **kw)  # type: ignore[arg-type]
        s, e = speech_bounds(clip)
        bounds.append((t + s, t + e))
        parts.append(clip)
        t += clip.size / RATE
        gap = tail_s if i == len(texts) - 1 else pause_s
        parts.append(np.zeros(int(gap * RATE), np.float32))
        t += gap
    return Conversation(np.concatenate(parts), texts, bounds)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
