"""The character's face as a 3D mesh driven by our AUs (py-feat's linear model), and its rendering.

Pure: no rclpy. `load_face_model()` (mesh.py) for the mesh, `FaceRenderer` (render.py) for images.
"""

from au_animation.face_model.mesh import FaceModel, FaceModelError, load_face_model

__all__ = ["FaceModel", "FaceModelError", "load_face_model"]
