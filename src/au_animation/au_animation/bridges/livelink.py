"""Live Link Face UDP packets: drive a MetaHuman in Unreal as if we were the iPhone app.

Unreal's "Live Link Face" / Apple ARKit remote source (plugin AppleARKitFaceSupport, class
FAppleARKitLiveLinkRemoteListener, default UDP port 11111) reads one datagram per frame with
FNboSerializeFromBuffer, i.e. network byte order (big-endian). Packet layout (version 6):

    offset  size      type        field
    0       1         uint8       packet version = 6
    1       4         int32 BE    D = byte length of device id
    5       D         UTF-8       device id (no NUL), identifies the source, e.g. a UUID string
    5+D     4         int32 BE    S = byte length of subject name
    9+D     S         UTF-8       subject name (no NUL), the Live Link subject shown in Unreal
    9+D+S   4         int32 BE    frame number   } FQualifiedFrameTime: FFrameTime (frame number,
    13+D+S  4         float32 BE  sub-frame      } sub-frame in [0, 1)) and FFrameRate
    17+D+S  4         int32 BE    rate numerator }  (numerator / denominator frames per second,
    21+D+S  4         int32 BE    rate denominator}  60/1 here)
    25+D+S  1         uint8       value count = 61
    26+D+S  61*4      float32 BE  values: the 52 ARKit blendshapes in ARKit order (eyeBlinkLeft,
                                  eyeLookDownLeft, ... tongueOut: Unreal's EARFaceBlendShape order),
                                  then headYaw, headPitch, headRoll, leftEyeYaw, leftEyePitch,
                                  leftEyeRoll, rightEyeYaw, rightEyePitch, rightEyeRoll

Total: 270 + D + S bytes. Blendshape values are in [0, 1]; we clamp them. The 9 rotation values
are radians (as the app sends ARKit's head and eye angles): from frames that carry head and eye angles
(head_yaw ... in degrees, converted with the signs of data/retarget/head_gaze.yaml), or passed through
from input curves of those names; otherwise 0 (looking straight ahead); clamped to [-pi, pi].
"""

from __future__ import annotations

import datetime
import math
import struct
import uuid
from collections.abc import Sequence

import numpy as np

PACKET_VERSION = 6
DEFAULT_PORT = 11111
BLENDSHAPE_COUNT = 52
ROTATION_NAMES = ("headYaw", "headPitch", "headRoll", "leftEyeYaw", "leftEyePitch", "leftEyeRoll",
                  "rightEyeYaw", "rightEyePitch", "rightEyeRoll")
VALUE_COUNT = BLENDSHAPE_COUNT + len(ROTATION_NAMES)  # 61
MAX_NAME_BYTES = 250  # Unreal drops packets longer than its fixed maximum (names up to 256 chars)
MAX_ROTATION = math.pi  # rad: a rotation slot beyond half a turn is clamped (and fits a float32)
_BODY = struct.Struct(f">ifiiB{VALUE_COUNT}f")


def _lp_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">i", len(raw)) + raw


def timecode_frame(fps: int, now: datetime.datetime | None = None) -> int:
    """Frames since local midnight at `fps`: the timecode the iPhone app stamps frames with."""
    now = now or datetime.datetime.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return int((now - midnight).total_seconds() * fps)


class LiveLinkEncoder:
    """Builds version-6 Live Link Face packets; `frame_number` advances by one per packet."""

    def __init__(self, blendshape_names: Sequence[str], subject: str = "AvatarFace",
                 device_id: str | None = None, fps: int = 60, start_frame: int | None = None) -> None:
        if len(blendshape_names) != BLENDSHAPE_COUNT:
            raise ValueError(f"Live Link Face needs {BLENDSHAPE_COUNT} ARKit names, got {len(blendshape_names)}")
        if not subject or len(subject.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(f"Live Link subject name must have 1..{MAX_NAME_BYTES} bytes")
        self.names = list(blendshape_names)
        self.subject = subject
        self.device_id = device_id or str(uuid.uuid5(uuid.NAMESPACE_DNS, f"avatar-face.{subject}")).upper()
        self.fps = int(fps)
        self.frame_number = timecode_frame(self.fps) if start_frame is None else int(start_frame)
        self._header = bytes([PACKET_VERSION]) + _lp_string(self.device_id) + _lp_string(subject)

    def encode(self, blendshapes: np.ndarray, rotations: Sequence[float] | None = None) -> bytes:
        """One packet: 52 values in `names` order (clamped to [0, 1], NaN -> 0) + 9 rotations."""
        shapes = np.clip(np.nan_to_num(np.asarray(blendshapes, dtype=np.float64), nan=0.0), 0.0, 1.0)
        rot = [0.0] * len(ROTATION_NAMES) if rotations is None else [
            0.0 if not np.isfinite(r) else min(MAX_ROTATION, max(-MAX_ROTATION, float(r))) for r in rotations]
        packet = self._header + _BODY.pack(self.frame_number, 0.0, self.fps, 1, VALUE_COUNT, *shapes, *rot)
        self.frame_number += 1
        return packet
