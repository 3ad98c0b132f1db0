"""QoS between rclpy and bags, as plain data (no rclpy import: profiles are read by attribute).

Recording stores each publisher's offered profile (rosbag2's offered_qos_profiles). The recorder
subscribes the way rosbag2 adapts: reliable only if every publisher is, transient-local only if
every publisher is, with a deep queue so bursts are not dropped. Playback offers the recorded
reliability and durability with a queue deep enough not to drop samples at full playback rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

INFINITE = QosTime(2147483647, 4294967295)  # RMW_DURATION_INFINITE as rosbag2 writes it
RECORD_DEPTH = 1000
PLAY_MIN_DEPTH = 100


def _enum(cls: Any, value: Any) -> Any:
    raw = getattr(value, "value", value)
    try:
        return cls(int(raw))
    except (TypeError, ValueError):
        return cls.UNKNOWN


def _time(duration: Any) -> QosTime:
    ns = int(getattr(duration, "nanoseconds", 0) or 0)
    if ns >= 2**63 - 1 or ns < 0:
        return INFINITE
    return QosTime(ns // 1_000_000_000, ns % 1_000_000_000)


def to_bag(profile: Any) -> Qos:
    """An rclpy QoSProfile (as returned in TopicEndpointInfo.qos_profile) -> rosbags Qos."""
    return Qos(history=_enum(QosHistory, profile.history), depth=int(profile.depth),
               reliability=_enum(QosReliability, profile.reliability),
               durability=_enum(QosDurability, profile.durability), deadline=_time(profile.deadline),
               lifespan=_time(profile.lifespan), liveliness=_enum(QosLiveliness, profile.liveliness),
               liveliness_lease_duration=_time(profile.liveliness_lease_duration),
               avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions))


@dataclass(frozen=True)
class Policy:
    """What a subscription or publisher should use: enum values shared by rmw, rclpy and rosbags."""

    reliable: bool
    transient_local: bool
    depth: int


def for_recording(offered: Sequence[Qos]) -> Policy:
    """Subscription policy that matches every offered profile (rosbag2's adaptive QoS)."""
    reliable = bool(offered) and all(q.reliability == QosReliability.RELIABLE for q in offered)
    latched = bool(offered) and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in offered)
    return Policy(reliable, latched, RECORD_DEPTH)


def for_playback(offered: Sequence[Qos]) -> Policy:
    """Publisher policy from the recorded profiles (reliable, volatile when none was recorded)."""
    if not offered:
        return Policy(True, False, PLAY_MIN_DEPTH)
    first = offered[0]
    return Policy(first.reliability != QosReliability.BEST_EFFORT,
                  first.durability == QosDurability.TRANSIENT_LOCAL, max(first.depth, PLAY_MIN_DEPTH))
