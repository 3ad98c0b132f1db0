"""Audio capture, voice activity, speech recognition, vocal prosody and text affect (LLM, offline)."""
