"""Options of the audio_capture node (microphone or file -> audio/chunks)."""

from __future__ import annotations

from dataclasses import dataclass

from avatar_common.config import param


@dataclass
class AudioCaptureConfig:
    """Every field is a node parameter of the same name; the source and its format are start-only."""

    source: str = param("mic", "'mic' for the microphone, or a WAV/FLAC file path; '' or 'off' = off",
                        start_only=True)
    device: str = param("", "microphone: '' = default input, an index, or part of a name", start_only=True)
    sample_rate: int = param(16000, "microphone rate (Hz); for files the output rate, 0 = the file's own",
                             low=0, high=384000, start_only=True)
    channels: int = param(1, "microphone channels", low=1, high=32, start_only=True)
    chunk_ms: float = param(32.0, "chunk length (ms)", low=1.0, high=1000.0, start_only=True)
    realtime: bool = param(True, "files: pace like a live source (false: as fast as possible)", start_only=True)
    loop: bool = param(False, "files: start again at the end", start_only=True)
    max_speed: float = param(4.0, "files with realtime=false: at most this many times real time (0 = no limit)",
                             low=0.0, high=1000.0)
    wait_subscribers_s: float = param(5.0, "files: wait up to this long for a subscriber before playing",
                                      low=0.0, high=3600.0, start_only=True)
    wait_subscribers: int = param(1, "files: play once this many subscribers are matched (a recorder and an "
                                     "observer in other processes must not miss the start)", low=1, high=100,
                                  start_only=True)
    retry_s: float = param(5.0, "microphone: retry period when the device is unavailable", low=0.5, high=3600.0,
                           start_only=True)

    def problems(self) -> list[str]:
        if self.source == "mic" and self.sample_rate == 0:
            return ["sample_rate: the microphone needs a rate (0 means 'the file's own')"]
        return []
