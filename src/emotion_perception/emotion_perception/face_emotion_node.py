"""face_emotion: camera/image_raw -> faces -> ResNet18 -> affect/face (EmotionState, source "face").

Lifecycle node: the model loads on configure, topics and the worker start on activate. The image
callback only keeps the newest frame; a worker thread processes at most `max_rate_hz` frames per
second. A frame without a face publishes no EmotionState (face/detections then has no faces).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from avatar_common.emotion import Emotion
from avatar_common.node_utils import ERROR, OK, WARN, Diagnostics, declare, emotion_to_msg, run_node
from avatar_msgs.msg import EmotionState, FaceDetection, FaceDetections
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from .face.classifier import make_classifier
from .face.detector import HaarFaceDetector
from .face.image_io import ImageError, distro_bridge, fill_msg, msg_to_bgr_or_gray
from .face.pipeline import FacePipeline, FrameResult
from .face.tracker import IouTracker


class FaceEmotionNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__(kwargs.pop("node_name", "face_emotion"), **kwargs)
        self.p_backend = str(declare(self, "backend", "onnx", "inference backend: onnx (ONNX Runtime) or torch"))
        self.p_model = str(declare(self, "model", "", "model file (.onnx, or .pt for torch); '' = shipped model"))
        self.p_rate = declare(self, "max_rate_hz", 10.0, "most frames classified per second")
        self.p_debug = bool(declare(self, "debug_image", False, "publish face/debug_image with boxes and labels"))
        self.p_all = bool(declare(self, "all_faces", False, "classify all faces (else the largest only)"))
        self.p_threads = int(declare(self, "threads", 1, "inference threads"))
        self.p_margin = float(declare(self, "margin", 0.15, "crop margin around the detector box (fraction of side)"))
        self.p_detect_width = int(declare(self, "detect_width", 320, "width the frame is downscaled to for detection"))
        self.p_align = bool(declare(self, "align", True, "rotate tilted faces upright using the eyes before cropping"))
        try:
            self.rate = float(self.p_rate)
            if not 0.1 <= self.rate <= 120:
                raise ValueError
        except (TypeError, ValueError):
            self.get_logger().error(f"max_rate_hz {self.p_rate!r} invalid: using 10")
            self.rate = 10.0
        if self.p_backend not in ("onnx", "torch"):
            self.get_logger().error(f"backend {self.p_backend!r} unknown: using onnx")
            self.p_backend = "onnx"
        self.pipeline: FacePipeline | None = None
        self._latest: Image | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sub = self._pub = self._det_pub = self._dbg_pub = None
        self.diag: Diagnostics | None = None
        self.stats = {"frames": 0, "faces": 0, "published": 0, "bad_images": 0, "dropped": 0, "last_ms": 0.0}
        self.last_error = ""

    # -- lifecycle ----------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            clf = make_classifier(self.p_backend, self.p_model or None, self.p_threads)
            det = HaarFaceDetector(detect_width=self.p_detect_width)
        except Exception as e:
            self.get_logger().error(f"cannot load face model ({self.p_backend}, {self.p_model or 'shipped'}): {e}")
            return TransitionCallbackReturn.FAILURE
        self.pipeline = FacePipeline(clf, det, IouTracker(), all_faces=self.p_all, margin=self.p_margin,
                                     align=self.p_align)
        conv = "cv_bridge" if distro_bridge() is not None else "numpy (no working cv_bridge)"
        self.get_logger().info(f"face model loaded ({self.p_backend}); image conversion: {conv}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        qos = QoSProfile(depth=1)
        qos.reliability = ReliabilityPolicy.BEST_EFFORT
        self._sub = self.create_subscription(Image, "camera/image_raw", self._on_image, qos)
        self._pub = self.create_publisher(EmotionState, "affect/face", 10)
        self._det_pub = self.create_publisher(FaceDetections, "face/detections", 10)
        if self.p_debug:
            self._dbg_pub = self.create_publisher(Image, "face/debug_image", 2)
        self.diag = Diagnostics(self, self._check)
        self._stop.clear()
        self._thread = threading.Thread(target=self._worker, name="face_emotion", daemon=True)
        self._thread.start()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._shutdown_worker()
        if self._sub is not None:
            self.destroy_subscription(self._sub)
        for pub in (self._pub, self._det_pub, self._dbg_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        if self.diag is not None:
            self.diag.destroy()
        self._sub = self._pub = self._det_pub = self._dbg_pub = self.diag = None
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.pipeline = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._shutdown_worker()
        return TransitionCallbackReturn.SUCCESS

    # -- work ---------------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        with self._lock:
            if self._latest is not None:
                self.stats["dropped"] += 1
            self._latest = msg
        self._wake.set()

    def _worker(self) -> None:
        period = 1.0 / self.rate
        last = 0.0
        while not self._stop.is_set():
            if not self._wake.wait(0.2):
                continue
            wait = last + period - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            with self._lock:
                msg, self._latest = self._latest, None
                self._wake.clear()
            if msg is None:
                continue
            last = time.monotonic()
            try:
                self.process(msg)
            except Exception as e:
                self.last_error = str(e)
                self.get_logger().error(f"face processing failed: {e}", throttle_duration_sec=5.0)

    def process(self, msg: Image) -> FrameResult | None:
        """Classify one image message and publish the results (called by the worker)."""
        pipe = self.pipeline
        if pipe is None:
            return None
        try:
            gray = msg_to_bgr_or_gray(msg, gray=True)
        except ImageError as e:
            self.stats["bad_images"] += 1
            self.last_error = str(e)
            self.get_logger().warning(f"image dropped: {e}", throttle_duration_sec=5.0)
            return None
        result = pipe.process(gray)
        self.stats["frames"] += 1
        self.stats["last_ms"] = result.timings_ms["total_ms"]
        det = FaceDetections(header=msg.header)
        det.faces = [FaceDetection(id=f.id, x=f.box.x, y=f.box.y, width=f.box.w, height=f.box.h,
                                   score=float(f.box.score)) for f in result.faces]
        if self._det_pub is not None:
            self._det_pub.publish(det)
        if result.faces:
            self.stats["faces"] += 1
            face = result.faces[0]
            v, a = face.valence_arousal()
            emotion = Emotion(weights=face.weights(), valence=v, arousal=a, confidence=face.confidence(),
                              source="face")
            if self._pub is not None:
                self._pub.publish(emotion_to_msg(emotion, msg.header.stamp, "face"))
                self.stats["published"] += 1
        if self._dbg_pub is not None:
            self._publish_debug(msg, result)
        return result

    def _publish_debug(self, msg: Image, result: FrameResult) -> None:
        import cv2

        try:
            img = msg_to_bgr_or_gray(msg, gray=False)
        except ImageError:
            return
        for f in result.faces:
            b = f.box
            label, p = f.top
            cv2.rectangle(img, (b.x, b.y), (b.x + b.w, b.y + b.h), (0, 255, 0), 2)
            cv2.putText(img, f"{f.id} {label} {p:.2f}", (b.x, max(12, b.y - 6)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5, (0, 255, 0), 1, cv2.LINE_AA)
        out = fill_msg(Image(header=msg.header), np.ascontiguousarray(img), "bgr8")
        self._dbg_pub.publish(out)

    def _check(self) -> tuple[int, str, dict]:
        if self.pipeline is None:
            return ERROR, "no model", dict(self.stats)
        level = WARN if self.last_error else OK
        return level, self.last_error or "ok", {**self.stats, "backend": self.p_backend}

    def _shutdown_worker(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None

    def destroy_node(self) -> None:
        self._shutdown_worker()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    run_node(FaceEmotionNode, args)


if __name__ == "__main__":
    main()
