"""Facial Action Unit synthesis: AU tables, curves, emotion tracks, blending, retargeting, output bridges."""
