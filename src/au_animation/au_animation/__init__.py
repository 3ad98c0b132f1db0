"""Facial Action Unit synthesis: AU tables, keyframe curves, emotion tracks, blending, retargeting and output bridges (OSC, Live Link, servos)."""
