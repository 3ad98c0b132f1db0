"""Software rendering of the face mesh to an RGB image (OpenCV): for clips (`au-render`) and `face/preview`.

Orthographic view from the front, painter's algorithm (triangles sorted back to front, back faces
culled), Lambert shading with one light from the viewer's upper left, irises clipped to the eye
openings so closing lids hide them. About 3-5 ms for a 512 px frame on one core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from au_animation.face_model.mesh import LEFT_EYE, LEFT_IRIS, RIGHT_EYE, RIGHT_IRIS, FaceModel

LIGHT = np.array([-0.35, 0.45, 1.0]) / np.linalg.norm([-0.35, 0.45, 1.0])
AMBIENT = 0.3
IRIS_COLOR = (58, 74, 92)
PUPIL_COLOR = (14, 14, 18)
SUBPIXEL_BITS = 4  # OpenCV fixed-point vertices: smoother edges than whole pixels


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """3x3 rotation of the head: yaw > 0 turns the nose toward the face's own left (+x), pitch > 0 up,
    roll > 0 counter-clockwise as the viewer sees it. Radians."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class View:
    """Image size and framing; the face fills `fill` of the smaller side at rest."""

    width: int = 512
    height: int = 512
    fill: float = 0.86
    background: tuple[int, int, int] = (26, 28, 34)


class FaceRenderer:
    """Renders vertices of one FaceModel; framing is fixed by the rest mesh so motion stays visible."""

    def __init__(self, model: FaceModel, view: View = View()) -> None:
        self.model = model
        self.view = view
        lo, hi = model.rest.min(axis=0), model.rest.max(axis=0)
        self._centre = (lo + hi) / 2.0
        self._scale = view.fill * min(view.width, view.height) / float(max(hi[0] - lo[0], hi[1] - lo[1]))
        self._colors = model.triangle_colors.astype(np.float64)

    def render(self, vertices: np.ndarray, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
        """(height, width, 3) uint8 RGB image of the face with these vertices and head rotation."""
        view = self.view
        image = np.empty((view.height, view.width, 3), dtype=np.uint8)
        image[:] = view.background
        p = (np.asarray(vertices, dtype=np.float64) - self._centre) @ rotation(yaw, pitch, roll).T
        screen = np.stack([view.width / 2 + self._scale * p[:, 0], view.height / 2 - self._scale * p[:, 1]], axis=1)
        tri = self.model.triangles
        a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
        normals = np.cross(b - a, c - a)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
        shade = AMBIENT + (1 - AMBIENT) * np.clip(normals @ LIGHT, 0.0, 1.0)
        colors = np.clip(self._colors * shade[:, None], 0, 255).astype(np.uint8)
        depth = (a[:, 2] + b[:, 2] + c[:, 2]) / 3.0
        fixed = np.round(screen * (1 << SUBPIXEL_BITS)).astype(np.int32)
        for k in np.argsort(depth):
            if normals[k, 2] > 0.0:
                cv2.fillConvexPoly(image, fixed[tri[k]], colors[k].tolist(), cv2.LINE_AA, SUBPIXEL_BITS)
        for eye, iris in ((RIGHT_EYE, RIGHT_IRIS), (LEFT_EYE, LEFT_IRIS)):
            self._iris(image, screen, eye, iris)
        return image

    def _iris(self, image: np.ndarray, screen: np.ndarray, eye: tuple[int, ...], iris: tuple[int, ...]) -> None:
        """Draw the iris where the eye opening is (nothing when the lids are closed)."""
        outline = np.round(screen[list(eye)]).astype(np.int32)
        x, y, w, h = cv2.boundingRect(outline)
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, image.shape[1]), min(y + h, image.shape[0])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        x, y = x0, y0
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillPoly(mask, [outline - (x, y)], 255)
        layer = image[y0:y1, x0:x1].copy()
        centre = screen[iris[0]] - (x, y)
        radius = float(np.linalg.norm(screen[list(iris[1:])] - screen[iris[0]], axis=1).mean())
        point = (round(float(centre[0])), round(float(centre[1])))
        cv2.circle(layer, point, max(1, round(radius)), IRIS_COLOR, -1, cv2.LINE_AA)
        cv2.circle(layer, point, max(1, round(radius * 0.45)), PUPIL_COLOR, -1, cv2.LINE_AA)
        region = image[y0:y1, x0:x1]
        region[mask > 0] = layer[mask > 0]
