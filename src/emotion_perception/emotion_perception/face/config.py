"""Options of the face_emotion node: model choice (start-only) and detection/crop tunables."""

from __future__ import annotations

from dataclasses import dataclass

from avatar_common.config import param

from .detector import DETECTORS

BACKENDS = ("onnx", "torch")


@dataclass
class FaceEmotionConfig:
    """Every field is a node parameter of the same name; start-only ones are read-only while running."""

    backend: str = param("onnx", "inference backend: onnx (ONNX Runtime) or torch", choices=BACKENDS,
                         start_only=True)
    model: str = param("", "model file (.onnx, or .pt for torch); '' = shipped model", start_only=True)
    threads: int = param(1, "inference threads", low=1, high=16, start_only=True)
    detector: str = param("mtcnn", "face detector: mtcnn (faces turned to about 45 degrees and partly covered, "
                          "landmarks for alignment; facenet-pytorch, falls back to haar when missing) or haar (the "
                          "frontal cascade, fastest)", choices=DETECTORS, start_only=True)
    debug_image: bool = param(False, "publish face/debug_image with boxes and labels", start_only=True)
    max_rate_hz: float = param(10.0, "most frames classified per second", low=0.1, high=120.0)
    all_faces: bool = param(False, "classify all faces (else the largest only)")
    margin: float = param(0.15, "crop margin around the detector box (fraction of side) for faces without "
                          "landmarks (Haar; MTCNN faces are framed by the landmark template)", low=0.0, high=1.0)
    align: bool = param(True, "align faces before classifying: MTCNN landmarks onto the FER+ landmark template, "
                        "else rotate upright by the eyes (Haar)")
    detect_width: int = param(320, "width the frame is downscaled to for detection (0 = full size)", low=0, high=4096)
    min_face_frac: float = param(0.12, "smallest face to detect, as a fraction of the detection image's short side",
                                 low=0.01, high=1.0)
    min_neighbors: int = param(5, "Haar detection threshold: overlapping hits a face needs (higher = fewer "
                               "false faces, more misses)", low=1, high=50)
    scale_factor: float = param(1.15, "Haar image-pyramid step (smaller = slower, finds more sizes)",
                                low=1.01, high=2.0)
