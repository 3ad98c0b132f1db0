"""Speech pipeline pieces that never import rclpy: audio I/O and resampling, streaming voice activity
detection and endpointing, Whisper ASR in a worker thread, vocal prosody.

The nodes `audio_capture` and `speech_recognizer` and the CLI `avatar-transcribe` are thin adapters
around these modules (see docs/speech.md).
"""
