"""Audio conversion: PCM round trips, downmix, the streaming resampler against resample_poly,
file probing errors and block reading."""

from __future__ import annotations

from math import gcd

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import resample_poly
from semantic_affect.speech.audio import (
    AudioFormatError,
    MonoConverter,
    StreamResampler,
    clipped_fraction,
    downmix,
    float_to_pcm16,
    iter_blocks,
    pcm16_to_float,
    probe,
    read_mono,
)


def test_pcm_round_trip_and_clipping() -> None:
    x = np.array([[0.0, 0.5], [-1.0, 0.25], [2.0, -3.0]], dtype=np.float32)  # last frame beyond full scale
    y = pcm16_to_float(float_to_pcm16(x), channels=2)
    assert y.shape == (3, 2)
    np.testing.assert_allclose(y[:2], x[:2], atol=1 / 32768)
    assert y[2, 0] == pytest.approx(32767 / 32768) and y[2, 1] == -1.0
    assert clipped_fraction(y) == pytest.approx(3 / 6)  # -1.0 is full scale too
    # a trailing partial frame is dropped, not misaligned
    assert pcm16_to_float(float_to_pcm16(x)[:-2], channels=2).shape == (2, 2)
    with pytest.raises(AudioFormatError):
        pcm16_to_float(b"\0\0", channels=0)


def test_downmix_means_channels() -> None:
    x = np.array([[1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(downmix(x), [0.5, 0.5])
    assert downmix(x[:, :1]).shape == (2,)


@settings(max_examples=25, deadline=None)
@given(rate=st.sampled_from([8000, 11025, 22050, 32000, 44100, 48000]),
       sizes=st.lists(st.integers(1, 4000), min_size=1, max_size=40))
def test_stream_resampler_equals_offline(rate: int, sizes: list[int]) -> None:
    rng = np.random.default_rng(len(sizes))
    x = rng.standard_normal(sum(sizes)).astype(np.float32)
    g = gcd(rate, 16000)
    ref = resample_poly(x, 16000 // g, rate // g)
    r = StreamResampler(rate, 16000)
    parts, i = [], 0
    for n in sizes:
        parts.append(r.process(x[i:i + n]))
        i += n
    parts.append(r.process(np.zeros(0, np.float32), final=True))
    y = np.concatenate(parts)
    assert y.size == ref.size
    np.testing.assert_allclose(y, ref, atol=1e-5)
    assert r._buf.size < 2 * max(sizes) + 4 * r.margin + r.down  # bounded memory


def test_mono_converter_counts_clipping() -> None:
    conv = MonoConverter()
    x = np.ones((4410, 2), dtype=np.float32)
    y = conv.process(x, 44100)
    assert conv.clipped == 8820 and 0 < y.size <= 1600


def test_probe_rejects_non_audio(tmp_path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    with pytest.raises(AudioFormatError, match="not a readable audio file"):
        probe(bad)
    with pytest.raises(AudioFormatError, match="no such file"):
        probe(tmp_path / "missing.flac")


def test_blocks_and_read_mono(tmp_path) -> None:
    t = np.arange(44100 * 2) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1).astype(np.float32) * 0.5
    path = tmp_path / "tone.flac"
    sf.write(path, stereo, 44100)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.frames) == (44100, 2, 88200)
    blocks = list(iter_blocks(path, 10000))
    assert max(b.shape[0] for b in blocks) == 10000 and sum(b.shape[0] for b in blocks) == 88200
    mono = read_mono(path)
    assert mono.size == 32000
    # downmixed (half amplitude) 440 Hz tone survives resampling
    spectrum = np.abs(np.fft.rfft(mono))
    assert np.argmax(spectrum) * 16000 / mono.size == pytest.approx(440, abs=1)
    assert np.sqrt(np.mean(mono[1000:-1000] ** 2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.02)
