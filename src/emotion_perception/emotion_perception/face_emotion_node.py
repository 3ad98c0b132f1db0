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
from avatar_common.node_utils import ERROR, OK, WARN, Diagnostics, NodeConfig, RepeatedLog, emotion_to_msg, run_node
from avatar_msgs.msg import EmotionState, FaceDetection, FaceDetections
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from .face.classifier import make_classifier
from .face.config import FaceEmotionConfig
from .face.detector import make_detector
from .face.image_io import ImageError, distro_bridge, fill_msg, msg_to_bgr_or_gray
from .face.pipeline import FacePipeline, FrameResult
from .face.tracker import IouTracker


class FaceEmotionNode(LifecycleNode):
    """Lifecycle node; FaceEmotionConfig's fields are its parameters (detection ones tunable while running)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(kwargs.pop("node_name", "face_emotion"), **kwargs)
        self.params = NodeConfig(self, FaceEmotionConfig, on_change=self._retune)
        self.pipeline: FacePipeline | None = None
        self._latest: Image | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sub = self._pub = self._det_pub = self._dbg_pub = None
        self.stats = {"frames": 0, "faces": 0, "published": 0, "bad_images": 0, "dropped": 0, "last_ms": 0.0}
        self.last_error = ""
        self.load_error = ""
        self._repeated = RepeatedLog(self)
        self.diag = Diagnostics(self, self._check)  # from construction: a model that fails to load is reported

    # -- lifecycle ----------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        c = self.params.config
        try:
            clf = make_classifier(c.backend, c.model or None, c.threads)
            det = make_detector(c.detector, detect_width=c.detect_width, min_face_frac=c.min_face_frac,
                                scale_factor=c.scale_factor, min_neighbors=c.min_neighbors, threads=c.threads)
        except Exception as e:
            self.load_error = f"cannot load face model ({c.backend}, {c.model or 'shipped'}): {e}"
            self.get_logger().error(self.load_error)
            return TransitionCallbackReturn.FAILURE
        self.load_error = ""
        self.pipeline = FacePipeline(clf, det, IouTracker(), all_faces=c.all_faces, margin=c.margin, align=c.align)
        conv = "cv_bridge" if distro_bridge() is not None else "numpy (no working cv_bridge)"
        self.get_logger().info(f"face model loaded ({c.backend}); image conversion: {conv}")
        return TransitionCallbackReturn.SUCCESS

    def _retune(self, c: FaceEmotionConfig, changed: set[str]) -> None:
        """Detection and crop settings apply to the next frame; the rate to the worker's next wait."""
        pipe = self.pipeline
        if pipe is None:
            return  # read at configure
        pipe.all_faces, pipe.margin = c.all_faces, c.margin
        pipe.set_align(c.align)
        det = pipe.detector
        det.detect_width, det.min_face_frac = c.detect_width, c.min_face_frac
        det.scale_factor, det.min_neighbors = c.scale_factor, c.min_neighbors

    def on_activate(self, state) -> TransitionCallbackReturn:
        qos = QoSProfile(depth=1)
        qos.reliability = ReliabilityPolicy.BEST_EFFORT
        self._sub = self.create_subscription(Image, "camera/image_raw", self._on_image, qos)
        self._pub = self.create_publisher(EmotionState, "affect/face", 10)
        self._det_pub = self.create_publisher(FaceDetections, "face/detections", 10)
        if self.params.config.debug_image:
            self._dbg_pub = self.create_publisher(Image, "face/debug_image", 2)
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
        self._sub = self._pub = self._det_pub = self._dbg_pub = None
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
        last = 0.0
        while not self._stop.is_set():
            if not self._wake.wait(0.2):
                continue
            wait = last + 1.0 / self.params.config.max_rate_hz - time.monotonic()
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
                self._repeated("processing", f"face processing failed: {e}", "error")

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
            self._repeated("image", f"image dropped: {e}")
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
            return ERROR, self.load_error or "not configured (no model loaded)", dict(self.stats)
        level = WARN if self.last_error else OK
        return level, self.last_error or "ok", {**self.stats, "backend": self.params.config.backend}

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
