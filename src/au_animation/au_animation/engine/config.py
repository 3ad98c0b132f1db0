"""Options of the expression synthesizer node: one dataclass for parameters, files and CLIs."""

from __future__ import annotations

from dataclasses import dataclass

from avatar_common.config import param

from au_animation.engine.synthesizer import MODES
from au_animation.engine.tables import PROFILES


@dataclass
class ExpressionConfig:
    """Every field is a node parameter of the same name; start-only ones are read-only while running."""

    rate_hz: float = param(60.0, "frames per second on face/action_units (node clock)", low=1.0, high=1000.0,
                           start_only=True)
    mode: str = param("dynamic", "dynamic (rise-hold-fall, blends, life layer) or static (the paper's baseline)",
                      choices=MODES)
    profile: str = param("felt", "timing profile: felt (spontaneous) or posed (faster, larger)", choices=PROFILES)
    intensity: float = param(1.0, "gain on every emotion's amplitude (1 = the prototypes' intensities)",
                             low=0.0, high=1.5)
    life: bool = param(True, "blinks, breathing and micro-motion (dynamic mode only)")
    seed: int = param(0, "random seed (blinks, felt irregularity): same seed, same face", low=0, high=2**31 - 1)
    gaze: bool = param(True, "head and gaze layer on face/head_gaze (dynamic mode; static keeps the head still)")
    camera_width: int = param(640, "width in pixels of the images face/detections come from (until a CameraInfo)",
                              low=1, high=16384)
    camera_height: int = param(480, "height in pixels of those images (until a CameraInfo)", low=1, high=16384)
    camera_hfov_deg: float = param(60.0, "horizontal field of view of that camera in degrees (until a CameraInfo "
                                   "on camera/camera_info gives its intrinsics)", low=1.0, high=179.0)
    camera_x: float = param(0.0, "camera position forward of the head's pivot, metres", low=-2.0, high=2.0)
    camera_y: float = param(0.0, "camera position to the character's left of the head's pivot, metres",
                            low=-2.0, high=2.0)
    camera_z: float = param(0.0, "camera position above the head's pivot, metres", low=-2.0, high=2.0)
    camera_yaw_deg: float = param(0.0, "camera turned toward the character's left, degrees", low=-180.0, high=180.0)
    camera_pitch_deg: float = param(0.0, "camera tilted up, degrees", low=-90.0, high=90.0)
    face_width_m: float = param(0.15, "average face width used to estimate a person's distance from a box, metres",
                                low=0.05, high=0.5)
    face_lost_s: float = param(2.0, "seconds without a face before the character stops looking at the person",
                               low=0.1, high=60.0)
    look_at_timeout_s: float = param(2.0, "seconds a look_at point (geometry_msgs/PointStamped) overrides the "
                                     "face detections", low=0.1, high=3600.0)
