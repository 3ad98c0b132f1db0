"""Where the person is: face boxes in a camera image -> yaw / pitch of the person seen from the head.

Pure geometry (no rclpy). Frames follow REP 103 for the head: x forward, y to the character's left, z up;
yaw = atan2(y, x) (> 0 toward the character's left), pitch = atan2(z, hypot(x, y)) (> 0 up). The camera
is a pinhole (intrinsics from a CameraInfo K matrix, or from a horizontal field of view), mounted at
`offset` (metres, head frame, from the point the head turns about) and turned by `yaw` / `pitch`
degrees. A face's distance comes from its box width and an average face width, so a camera that is
not at the eyes still gives the right direction (parallax).

`TargetSelector` picks the face to look at: the one speaking (by id) if known, else the largest, with
hysteresis so two similar faces do not make the character flip between them; with no face for
`lost_after` seconds the target is None (idle). A look-at point from elsewhere (a person tracked by other
nodes) overrides the faces for `point_timeout` seconds after it was given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FACE_WIDTH_M = 0.15  # width of a frontal face box (about the bizygomatic breadth, ~14 cm, plus margin)
EYE_LEVEL = 0.4  # eyes lie about 40% down a frontal face detector box


@dataclass(frozen=True)
class Face:
    """A detection box in pixels (top-left corner, size), with the detector's stable id."""

    x: float
    y: float
    w: float
    h: float
    id: str = ""

    @property
    def area(self) -> float:
        return self.w * self.h

    def valid(self) -> bool:
        return all(math.isfinite(v) for v in (self.x, self.y, self.w, self.h)) and self.w > 0 and self.h > 0


def point_direction(x: float, y: float, z: float) -> tuple[float, float] | None:
    """(yaw, pitch) in degrees of a point in the head frame; None if not finite or at the origin."""
    if not all(math.isfinite(v) for v in (x, y, z)) or (x == 0.0 and y == 0.0 and z == 0.0):
        return None
    return math.degrees(math.atan2(y, x)), math.degrees(math.atan2(z, math.hypot(x, y)))


@dataclass(frozen=True)
class Camera:
    """Pinhole camera on the head (see the module docstring for frames and signs)."""

    fx: float
    fy: float
    cx: float
    cy: float
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    pitch: float = 0.0

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float, offset: tuple[float, float, float] = (0.0, 0.0, 0.0),
                 yaw: float = 0.0, pitch: float = 0.0) -> Camera:
        """Square pixels, principal point at the image centre, horizontal field of view in degrees."""
        if not (width > 0 and height > 0 and 1.0 <= hfov_deg <= 179.0):
            raise ValueError(f"need width, height > 0 and a field of view in [1, 179] deg, got {width}x{height}, "
                             f"{hfov_deg}")
        f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(f, f, 0.5 * width, 0.5 * height, offset, yaw, pitch)

    @classmethod
    def from_k(cls, k: Sequence[float], offset: tuple[float, float, float] = (0.0, 0.0, 0.0), yaw: float = 0.0,
               pitch: float = 0.0) -> Camera:
        """From a CameraInfo K (row-major 3x3: fx 0 cx / 0 fy cy / 0 0 1); ValueError if uncalibrated."""
        if len(k) != 9 or not all(math.isfinite(float(v)) for v in k) or not (k[0] > 0 and k[4] > 0):
            raise ValueError("camera matrix K is not calibrated (fx, fy must be > 0)")
        return cls(float(k[0]), float(k[4]), float(k[2]), float(k[5]), offset, yaw, pitch)

    def face_point(self, face: Face, face_width_m: float = FACE_WIDTH_M) -> tuple[float, float, float]:
        """The point between the person's eyes in the head frame (metres)."""
        u = face.x + 0.5 * face.w
        v = face.y + EYE_LEVEL * face.h
        depth = self.fx * face_width_m / face.w
        # optical frame (x right, y down, z forward) -> camera body frame (x forward, y left, z up)
        x, y, z = depth, -depth * (u - self.cx) / self.fx, -depth * (v - self.cy) / self.fy
        p, w = math.radians(self.pitch), math.radians(self.yaw)
        x, z = x * math.cos(p) - z * math.sin(p), x * math.sin(p) + z * math.cos(p)  # pitch > 0 looks up
        x, y = x * math.cos(w) - y * math.sin(w), x * math.sin(w) + y * math.cos(w)
        return x + self.offset[0], y + self.offset[1], z + self.offset[2]

    def direction(self, face: Face, face_width_m: float = FACE_WIDTH_M) -> tuple[float, float] | None:
        """(yaw, pitch) in degrees of the face seen from the head; None for an invalid box."""
        if not face.valid():
            return None
        return point_direction(*self.face_point(face, face_width_m))


class TargetSelector:
    """Faces over time -> the direction to look at, or None when nobody has been seen for a while."""

    def __init__(self, camera: Camera, lost_after: float = 2.0, switch_ratio: float = 1.5,
                 face_width_m: float = FACE_WIDTH_M, point_timeout: float = 2.0) -> None:
        self.camera = camera
        self.lost_after = lost_after
        self.point_timeout = point_timeout
        self._point: tuple[float, float] | None = None
        self._point_at = -math.inf
        self.switch_ratio = switch_ratio
        self.face_width_m = face_width_m
        self.face_id = ""
        self.target: tuple[float, float] | None = None
        self._seen_at = -math.inf

    def choose(self, faces: Sequence[Face], speaking_id: str = "") -> Face | None:
        """The speaking face if listed, else the current one unless another is `switch_ratio` x larger,
        else the largest."""
        faces = [f for f in faces if f.valid()]
        if not faces:
            return None
        if speaking_id:
            for f in faces:
                if f.id == speaking_id:
                    return f
        largest = max(faces, key=lambda f: f.area)
        if self.face_id:
            for f in faces:
                if f.id == self.face_id and f.area * self.switch_ratio >= largest.area:
                    return f
        return largest

    def update(self, faces: Sequence[Face], t: float, speaking_id: str = "") -> tuple[float, float] | None:
        """Detections of one image taken at t (seconds); returns the current target."""
        face = self.choose(faces, speaking_id)
        direction = None if face is None else self.camera.direction(face, self.face_width_m)
        if direction is not None:
            self.face_id = face.id
            self.target = direction
            self._seen_at = t
        return self.current(t)

    def point(self, direction: tuple[float, float] | None, t: float) -> None:
        """A look-at direction from another source at t (ignored when None)."""
        if direction is not None:
            self._point, self._point_at = direction, t

    def current(self, t: float) -> tuple[float, float] | None:
        """The target at t: a fresh look-at point, else the last face's direction, None once no face was seen
        for `lost_after` s."""
        if self._point is not None and t - self._point_at <= self.point_timeout:
            return self._point
        if self.target is not None and t - self._seen_at > self.lost_after:
            self.target = None
            self.face_id = ""
        return self.target
