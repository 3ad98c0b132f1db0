"""avatar-transcribe as a user runs it: a FLAC file in, JSONL out; clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from semantic_affect.speech.metrics import wer
from speech_synth import SENTENCES, conversation

EXE = str(Path(sys.executable).parent / "avatar-transcribe")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


def test_help() -> None:
    r = run("--help")
    assert r.returncode == 0 and "--model" in r.stdout and "--language" in r.stdout


def test_flac_to_jsonl(tmp_path) -> None:
    talk = conversation(SENTENCES[1:3], pause_s=1.0)
    x = resample_poly(talk.audio, 441, 320).astype(np.float32)  # 22.05 kHz stereo FLAC
    path = tmp_path / "talk.flac"
    sf.write(path, np.stack([x, x], axis=1), 22050)
    out = tmp_path / "out.jsonl"
    r = run(str(path), "--model", "tiny.en", "--language", "en", "-o", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2
    assert wer(talk.texts, [row["text"] for row in rows]) <= 0.15
    for row, (start, end) in zip(rows, talk.bounds, strict=True):
        assert abs(row["start"] - start) < 0.2 and abs(row["end"] - end) < 0.2
        assert row["language"] == "en" and 0 < row["confidence"] <= 1
        voice = row["voice"]
        assert -1 <= voice["arousal"] <= 1 and voice["valence"] == 0 and 0 < voice["confidence"] <= 0.35
        assert 60 < voice["features"]["f0_mean_hz"] < 400


def test_not_audio_and_silence(tmp_path) -> None:
    bad = tmp_path / "photo.wav"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    r = run(str(bad))
    assert r.returncode == 2 and "not a readable audio file" in r.stderr and "Traceback" not in r.stderr
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, np.zeros(16000 * 2, dtype=np.float32), 16000)
    r = run(str(quiet))
    assert r.returncode == 0 and r.stdout == ""
