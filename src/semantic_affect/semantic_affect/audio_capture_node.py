"""ROS node `audio_capture`: microphone (sounddevice/PortAudio) or a WAV/FLAC file -> audio/chunks.

Parameters: the fields of AudioCaptureConfig (speech/capture_config.py): source ('mic', a file, or
'' / 'off'), device, rates and chunking, file pacing (realtime, max_speed, loop), retry period.

A missing PortAudio library, a missing device or an unreadable file is one clear error line and a
diagnostics ERROR; the node keeps running (and retries the microphone), it never crash-loops.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from typing import Any

import numpy as np
from avatar_common.node_utils import ERROR, OK, WARN, Diagnostics, NodeConfig, run_node, stamp_msg
from avatar_msgs.msg import AudioChunk
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from semantic_affect.speech.audio import AudioFormatError, StreamResampler, float_to_pcm16, iter_blocks, probe
from semantic_affect.speech.capture_config import AudioCaptureConfig

AUDIO_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)  # ~32 s of 32 ms chunks


def import_sounddevice() -> Any:
    """sounddevice, imported only when a microphone is used: it raises OSError at import time when
    the PortAudio library is missing, which must not break file playback or tests."""
    try:
        import sounddevice
    except OSError as exc:
        raise RuntimeError(f"PortAudio library not found ({exc}); install libportaudio2 "
                           "(Debian/Ubuntu: apt-get install libportaudio2)") from exc
    return sounddevice


def input_devices(sd: Any) -> list[str]:
    try:
        return [f"{i}: {d['name']}" for i, d in enumerate(sd.query_devices()) if d.get("max_input_channels", 0) > 0]
    except Exception:
        return []


class FileSource:
    """Reads a file block by block (bounded memory), optionally resampled, as S16LE chunks."""

    def __init__(self, path: str, chunk_ms: float, rate: int, loop: bool) -> None:
        self.info = probe(path)  # AudioFormatError when it is not audio
        self.path, self.loop = path, loop
        self.rate = rate or self.info.sample_rate
        self.channels = self.info.channels
        self.chunk_frames = max(1, round(self.info.sample_rate * chunk_ms / 1000.0))
        self.frames_out = 0
        self.finished = False
        self._open()

    def _open(self) -> None:
        self._blocks = iter_blocks(self.path, self.chunk_frames)
        self._resamplers = ([StreamResampler(self.info.sample_rate, self.rate) for _ in range(self.channels)]
                            if self.rate != self.info.sample_rate else None)

    def next_chunk(self) -> np.ndarray | None:
        """(frames, channels) float32 at the output rate, or None at the end."""
        while not self.finished:
            block = next(self._blocks, None)
            final = block is None
            if final:
                if self._resamplers is None:
                    out = None
                else:
                    cols = [r.process(np.zeros(0, np.float32), final=True) for r in self._resamplers]
                    out = np.stack(cols, axis=1) if cols[0].size else None
                if self.loop:
                    self._open()
                else:
                    self.finished = True
                if out is not None:
                    return out
                continue
            if self._resamplers is None:
                return block
            cols = [r.process(block[:, c]) for c, r in enumerate(self._resamplers)]
            if cols[0].size:
                return np.stack(cols, axis=1)
        return None


class AudioCaptureNode(Node):
    """Publishes audio/chunks (AudioChunk, S16LE) from a microphone or a file."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("audio_capture", **kwargs)
        self.params = NodeConfig(self, AudioCaptureConfig)
        c = self.params.config
        self.source = "" if c.source.strip().lower() == "off" else c.source
        self.device, self.sample_rate, self.channels, self.chunk_ms = c.device, c.sample_rate, c.channels, c.chunk_ms
        self.realtime, self.loop, self.retry_s = c.realtime, c.loop, c.retry_s
        self._pub = self.create_publisher(AudioChunk, "audio/chunks", AUDIO_QOS)
        self.chunks = 0
        self.state = "idle"
        self.error = ""
        self._file: FileSource | None = None
        self._stream: Any = None
        self._mic_queue: collections.deque[tuple[bytes, Any, int]] = collections.deque(maxlen=256)
        self._mic_lock = threading.Lock()
        self.overflows = 0
        self._diag = Diagnostics(self, self._check)
        if self.source == "":
            self.state = "off"
            self.get_logger().warn("source is '' : no audio will be published")
        elif self.source == "mic":
            self._gc = self.create_guard_condition(self._drain_mic)
            self._open_mic()
            self._retry = self.create_timer(max(0.5, self.retry_s), self._check_mic)
        else:
            self._start_file()

    # -- file ------------------------------------------------------------------------------------
    def _start_file(self) -> None:
        try:
            self._file = FileSource(self.source, self.chunk_ms, self.sample_rate, self.loop)
        except AudioFormatError as exc:
            self._fail(f"cannot play {self.source}: {exc}")
            return
        self.state = "waiting"
        self._wait_until = time.monotonic() + self.params.config.wait_subscribers_s
        self._file_stamp0 = None
        self._file_t0 = 0.0
        period = self.chunk_ms / 1000.0 if self.realtime else 0.002
        self._file_timer = self.create_timer(period, self._file_tick)
        info = self._file.info
        self.get_logger().info(f"playing {info.path} ({info.duration:.1f} s, {info.sample_rate} Hz, "
                               f"{info.channels} ch) at {self._file.rate} Hz, realtime={self.realtime}")

    def _file_tick(self) -> None:
        f = self._file
        if f is None or f.finished:
            return
        if self.state == "waiting":
            wanted = self.params.config.wait_subscribers
            if self._pub.get_subscription_count() < wanted and time.monotonic() < self._wait_until:
                return
            self.state = "playing"
            self._file_t0 = time.monotonic()
            self._file_stamp0 = self.get_clock().now().nanoseconds * 1e-9
        elapsed = time.monotonic() - self._file_t0
        if self.realtime:
            due, budget = elapsed * f.rate, 64  # frames that should be out by now
        else:
            speed = self.params.config.max_speed
            due = elapsed * f.rate * speed if speed > 0 else float("inf")
            budget = 16
        try:
            while f.frames_out < due and budget > 0:
                chunk = f.next_chunk()
                if chunk is None:
                    self.state = "finished"
                    self.get_logger().info(f"end of {f.path} after {f.frames_out / f.rate:.1f} s")
                    return
                self._publish(chunk, f.rate, self._file_stamp0 + f.frames_out / f.rate)
                f.frames_out += chunk.shape[0]
                budget -= 1
        except AudioFormatError as exc:
            self._fail(f"decoding {f.path} failed: {exc}")
            f.finished = True

    # -- microphone --------------------------------------------------------------------------------
    def _open_mic(self) -> None:
        try:
            sd = import_sounddevice()
            device: Any = int(self.device) if self.device.strip().isdigit() else (self.device or None)
            frames = max(1, round(self.sample_rate * self.chunk_ms / 1000.0))
            stream = sd.InputStream(device=device, samplerate=self.sample_rate, channels=self.channels,
                                    dtype="int16", blocksize=frames, callback=self._mic_callback)
            stream.start()
        except Exception as exc:  # PortAudio errors, unknown device (ValueError), missing library
            devices = []
            with contextlib.suppress(RuntimeError):
                devices = input_devices(import_sounddevice())
            message = f"microphone {self.device or '(default)'} unavailable: {exc}"
            if devices:
                message += f"; input devices: {', '.join(devices)}"
            if message != self.error:  # one line per new problem, not one per retry
                self.get_logger().error(message + f" (retrying every {self.retry_s:.0f} s)")
            self.error, self.state = message, "error"
            self._stream = None
            return
        self._stream = stream
        self.state, self.error = "capturing", ""
        self.get_logger().info(f"capturing from {self.device or 'default input'} at {self.sample_rate} Hz")

    def _mic_callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio thread: only store and wake the executor."""
        if status:
            self.overflows += 1
        stamp = self.get_clock().now().nanoseconds * 1e-9 - frames / self.sample_rate
        self._mic_queue.append((bytes(indata), stamp, frames))
        self._gc.trigger()

    def _drain_mic(self) -> None:
        while self._mic_queue:
            data, stamp, _ = self._mic_queue.popleft()
            self._publish_bytes(data, self.sample_rate, self.channels, stamp)

    def _check_mic(self) -> None:
        if self._stream is not None and not self._stream.active:
            self.get_logger().error("microphone stream stopped; reopening")
            with contextlib.suppress(Exception):
                self._stream.close()
            self._stream = None
        if self._stream is None:
            self._open_mic()

    # -- common ----------------------------------------------------------------------------------
    def _publish(self, frames: np.ndarray, rate: int, stamp: float) -> None:
        self._publish_bytes(float_to_pcm16(frames), rate, frames.shape[1], stamp)

    def _publish_bytes(self, data: bytes, rate: int, channels: int, stamp: float) -> None:
        msg = AudioChunk(sample_rate=int(rate), channels=int(channels), encoding="S16LE", data=data)
        msg.header.stamp = stamp_msg(stamp)
        self._pub.publish(msg)
        self.chunks += 1

    def _fail(self, message: str) -> None:
        self.get_logger().error(message)
        self.state, self.error = "error", message

    def _check(self) -> tuple[int, str, dict[str, Any]]:
        values = {"source": self.source, "state": self.state, "chunks": self.chunks, "overflows": self.overflows}
        if self.state == "error":
            return ERROR, self.error, values
        if self.state == "off":
            return WARN, "no source", values
        return OK, self.state, values

    def destroy_node(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
            self._stream = None
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(AudioCaptureNode, args)


if __name__ == "__main__":
    main()
