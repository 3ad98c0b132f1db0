"""Audio capture, voice activity, speech recognition, vocal prosody and text affect (LLM and offline) for the avatar face stack."""
