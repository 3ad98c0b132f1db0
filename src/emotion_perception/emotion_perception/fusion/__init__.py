"""Multimodal emotion fusion (pure, no rclpy): see core.py for the formula."""

from emotion_perception.fusion.core import SOURCE, EmotionFuser, Fused, PublishPolicy, change
from emotion_perception.fusion.params import FusionParams, ModalityParams, default_params, load_params, parse_params
from emotion_perception.fusion.timeline import TimelineEvent, parse_event, read_jsonl, run_timeline

__all__ = [
    "SOURCE", "EmotionFuser", "Fused", "FusionParams", "ModalityParams", "PublishPolicy", "TimelineEvent",
    "change", "default_params", "load_params", "parse_event", "parse_params", "read_jsonl", "run_timeline",
]
