"""ROS: a WAV replayed in real time through audio_capture -> speech_recognizer (real rclpy, real
model): user_speaking edges against the true speech boundaries (wall clock), final utterances with
stamps, voice affect; and the failure paths (non-audio file, missing microphone, bad model)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
from avatar_common.node_utils import stamp_seconds
from avatar_msgs.msg import AudioChunk, EmotionState, Utterance
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from scipy.signal import resample_poly
from semantic_affect.audio_capture_node import AudioCaptureNode
from semantic_affect.speech.metrics import wer
from semantic_affect.speech_recognizer_node import SpeechRecognizerNode
from speech_synth import SENTENCES, conversation
from std_msgs.msg import Bool

pytestmark = pytest.mark.ros

EDGE_TOL = 0.30


def test_wav_through_capture_and_recognizer(ros, tmp_path) -> None:
    talk = conversation(SENTENCES[:2], pause_s=1.2, lead_s=0.6, tail_s=1.2)
    x = resample_poly(talk.audio, 441, 160).astype(np.float32)
    wav = tmp_path / "talk.wav"
    sf.write(wav, np.stack([x, 0.7 * x], axis=1), 44100)  # wrong rate and stereo: resampled, downmixed

    recognizer = SpeechRecognizerNode(**ros.node_kwargs())
    assert recognizer.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert recognizer.trigger_activate() == TransitionCallbackReturn.SUCCESS
    ros.add(recognizer)
    edges: list[tuple[float, bool]] = []
    ros.tester.create_subscription(Bool, "speech/user_speaking",
                                   lambda m: edges.append((time.monotonic(), m.data)), 10)
    received: list[tuple[float, Utterance]] = []
    ros.tester.create_subscription(Utterance, "speech/utterance",
                                   lambda m: received.append((time.monotonic(), m)), 10)
    voices = ros.collect(EmotionState, "affect/voice")
    capture = AudioCaptureNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("source", value=str(wav)), Parameter("realtime", value=True),
        Parameter("sample_rate", value=0), Parameter("wait_subscribers_s", value=10.0)]))
    ros.add(capture)

    ros.wait_for_messages(received, 2, timeout=talk.duration + 20)
    ros.spin_until(lambda: len(voices) >= 2, 5, "voice affect")
    assert capture.state in ("playing", "finished") and capture.chunks > 0

    t0 = capture._file_t0  # monotonic time at which the file's sample 0 was due
    s0 = capture._file_stamp0  # ROS time stamped on sample 0
    finals = [u for _, u in received if u.final]
    arrivals = [t for t, u in received if u.final]
    assert [u.id for u in finals] == ["asr-1", "asr-2"]
    assert wer(talk.texts, [u.text for u in finals]) <= 0.15, [u.text for u in finals]
    for u, (start, end), arrival in zip(finals, talk.bounds, arrivals, strict=True):
        assert u.language == "en" and 0 < u.confidence <= 1
        assert abs(stamp_seconds(u.start) - s0 - start) < 0.2 and abs(stamp_seconds(u.end) - s0 - end) < 0.2
        assert stamp_seconds(u.header.stamp) == pytest.approx(stamp_seconds(u.end))
        latency = arrival - (t0 + end)
        assert latency < 1.5, f"final utterance {latency:.2f} s after the end of speech"
    # user_speaking: True near each start, False near each end, wall clock against the replay
    on = [t - t0 for t, v in edges if v]
    off = [t - t0 for t, v in edges if not v]
    for start, end in talk.bounds:
        assert any(0 <= t - start <= EDGE_TOL for t in on), (start, on)
        assert any(0 <= t - end <= EDGE_TOL for t in off), (end, off)
    assert edges[0][1] is True and edges[-1][1] is False
    for v in voices:
        assert v.source == "voice" and v.utterance_id in ("asr-1", "asr-2")
        assert -1 <= v.arousal <= 1 and v.valence == 0.0 and 0 < v.confidence <= 0.35


def test_fast_file_replay_is_complete_and_contiguous(ros, tmp_path) -> None:
    rate = 22050
    t = np.arange(rate * 6) / rate
    wav = tmp_path / "tone.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate)
    chunks = ros.collect(AudioChunk, "audio/chunks", depth=1000)
    capture = ros.add(AudioCaptureNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("source", value=str(wav)), Parameter("realtime", value=False),
        Parameter("max_speed", value=0.0), Parameter("chunk_ms", value=20.0)])))
    ros.spin_until(lambda: capture.state == "finished" and len(chunks) >= capture.chunks, 20, "the whole file")
    assert len(chunks) == capture.chunks
    assert {(c.sample_rate, c.channels, c.encoding) for c in chunks} == {(16000, 1, "S16LE")}
    frames = [len(c.data) // 2 for c in chunks]
    assert abs(sum(frames) - 6 * 16000) <= 1  # resampled 22.05 -> 16 kHz, nothing lost
    stamps = np.array([stamp_seconds(c.header.stamp) for c in chunks])
    np.testing.assert_allclose(np.diff(stamps), np.array(frames[:-1]) / 16000, atol=2e-6)
    audio = np.concatenate([np.frombuffer(bytes(c.data), "<i2") for c in chunks]) / 32768
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 16000 / audio.size == pytest.approx(300, abs=1)


def test_capture_failures_are_clear_and_not_fatal(ros, tmp_path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    node = ros.add(AudioCaptureNode(**ros.node_kwargs(parameter_overrides=[Parameter("source", value=str(bad))])))
    mic = ros.add(AudioCaptureNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("source", value="mic"), Parameter("device", value="no-such-device-xyz"),
        Parameter("retry_s", value=0.5)])))
    ros.spin_for(1.2)  # a retry happens; neither node raises
    assert node.state == "error" and "not a readable audio file" in node.error and node.chunks == 0
    assert mic.state == "error" and mic.chunks == 0
    assert "no-such-device-xyz" in mic.error or "PortAudio" in mic.error


def test_recognizer_configure_fails_cleanly_on_a_bad_model(ros, tmp_path) -> None:
    node = SpeechRecognizerNode(**ros.node_kwargs(parameter_overrides=[Parameter("model", value=str(tmp_path))]))
    ros.add(node)
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "cannot load Whisper model" in node.load_error


def test_parameters_of_the_wrong_type_fall_back_instead_of_crashing(ros) -> None:
    node = ros.add(SpeechRecognizerNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("silence_ms", value=300), Parameter("threshold", value="high"),
        Parameter("partials", value="yes"), Parameter("cpu_threads", value=1.0)])))
    config = node.params.config
    assert config.silence_ms == 300.0  # an int for a float is converted
    assert config.threshold == 0.5 and config.partials is False  # unusable: default
    assert config.cpu_threads == 2  # a float for an int is refused too (ROS typing), not truncated
    assert node.get_parameter("threshold").value == 0.5  # the parameter tells the value in use
    capture = ros.add(AudioCaptureNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("source", value=""), Parameter("chunk_ms", value=20)])))
    assert capture.chunk_ms == 20.0 and capture.state == "off"
