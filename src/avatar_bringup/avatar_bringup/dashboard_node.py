"""dashboard: a live web page of what the character heard, saw and felt, and the face it makes.

Lifecycle node. Subscribes to the transcript, the text analysis, every modality's emotion, the fused
state, the AU stream, face detections and the camera; serves http://127.0.0.1:8765/ (host/port
parameters) from its own thread, and publishes what is typed into the page on speech/utterance,
like avatar-say. Optional: the rendered face as sensor_msgs/Image on face/preview (rviz, Foxglove).
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
import time

from avatar_common.node_utils import (
    ERROR,
    OK,
    WARN,
    Diagnostics,
    NodeConfig,
    emotion_from_msg,
    publish_while_up,
    run_node,
    stamp_seconds,
)
from avatar_msgs.msg import ActionUnits, AffectAnalysis, EmotionState, FaceDetections, HeadGaze, Utterance
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Bool

from avatar_bringup.conversation_node import make_utterance
from avatar_bringup.dashboard.config import LOOPBACK, DashboardConfig, url
from avatar_bringup.dashboard.server import DashboardServer, Rates, jpeg_encoder
from avatar_bringup.dashboard.state import DashboardState

SAY_PERIOD_S = 0.05  # how often typed utterances are handed from the web thread to the executor


class DashboardNode(LifecycleNode):
    """Lifecycle node; DashboardConfig's fields are its parameters (rates and image settings tunable)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(kwargs.pop("node_name", "dashboard"), **kwargs)
        self.params = NodeConfig(self, DashboardConfig, on_change=self._apply)
        c = self.params.config
        self.state = DashboardState(transcript_lines=c.transcript_lines)
        self.server: DashboardServer | None = None
        self.url = ""
        self.model = None
        self.model_error = ""
        self.server_error = ""
        self._said: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._subs: list = []
        self._say_pub = self._preview_pub = self._say_timer = None
        self._preview_stop = threading.Event()
        self._preview_thread: threading.Thread | None = None
        self.diag = Diagnostics(self, self._check)

    # -- lifecycle ----------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        """Load the face model; without it the page still shows everything but the face."""
        from au_animation.face_model import FaceModelError, load_face_model

        try:
            self.model = load_face_model()
            self.model_error = ""
        except FaceModelError as exc:
            self.model, self.model_error = None, str(exc)
            self.get_logger().error(f"no face on the page: {exc}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        c = self.params.config
        image_qos = QoSProfile(depth=1)
        image_qos.reliability = ReliabilityPolicy.BEST_EFFORT
        self._subs = [
            self.create_subscription(Utterance, "speech/utterance", self._on_utterance, 10),
            self.create_subscription(Bool, "speech/user_speaking", self._on_user_speaking, 10),
            self.create_subscription(AffectAnalysis, "affect/text_analysis", self._on_analysis, 10),
            *(self.create_subscription(EmotionState, f"affect/{source}", functools.partial(self._on_emotion, source),
                                       10) for source in ("text", "voice", "face", "fused")),
            self.create_subscription(ActionUnits, "face/action_units", self._on_action_units, 10),
            self.create_subscription(HeadGaze, "face/head_gaze", self._on_head_gaze, 10),
            self.create_subscription(FaceDetections, "face/detections", self._on_detections, 10),
            self.create_subscription(Image, "camera/image_raw", self.state.on_image, image_qos),
        ]
        self._say_pub = self.create_publisher(Utterance, "speech/utterance", 10)
        self._say_timer = self.create_timer(SAY_PERIOD_S, self._publish_said)
        self._start_server(c)
        if c.preview and self.model is not None:
            self._preview_pub = self.create_publisher(Image, "face/preview", 2)
            self._preview_stop.clear()
            self._preview_thread = threading.Thread(target=self._preview_loop, name="dashboard-preview", daemon=True)
            self._preview_thread.start()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_threads()
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        for pub in (self._say_pub, self._preview_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        if self._say_timer is not None:
            self.destroy_timer(self._say_timer)
        self._say_pub = self._preview_pub = self._say_timer = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._stop_threads()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self._stop_threads()
        super().destroy_node()

    def _start_server(self, c: DashboardConfig) -> None:
        """Bind the page; a port in use is one error line and no page, never a stopped graph."""
        from emotion_perception.face.image_io import ImageError, to_bgr

        def encoder_input(msg: Image):
            try:
                return to_bgr(msg)
            except ImageError as exc:
                raise ValueError(str(exc)) from None

        self._to_bgr = encoder_input
        model = self.model
        server = DashboardServer(
            self.state, c.host, c.port, say=self._say,
            mesh=model.payload() if model is not None else None,
            encode_image=jpeg_encoder(c.image_width, c.jpeg_quality, encoder_input),
            mesh_to_channels=(lambda aus, eye_yaw, eye_pitch:
                              [round(float(v), 4) for v in model.channel_values(aus, eye_yaw, eye_pitch)])
            if model is not None else None,
            rates=Rates(c.au_rate_hz, c.ui_rate_hz, c.image_rate_hz))
        try:
            server.start()
        except OSError as exc:
            self.server_error = f"cannot serve on {c.host}:{c.port}: {exc}"
            self.get_logger().error(f"dashboard off: {self.server_error}")
            return
        self.server, self.server_error = server, ""
        self.url = url(c.host, server.port)
        if c.host not in LOOPBACK:
            self.get_logger().warning(f"dashboard bound to {c.host} by explicit choice: other machines can see "
                                      "the page and type into the conversation")
        self.get_logger().info(f"dashboard: {self.url}")

    def _stop_threads(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self._preview_stop.set()
        if self._preview_thread is not None and self._preview_thread is not threading.current_thread():
            self._preview_thread.join(timeout=2.0)
        self._preview_thread = None

    def _apply(self, c: DashboardConfig, changed: set[str]) -> None:
        """Rates and image settings take effect on the server's next tick."""
        server = self.server
        if server is None:
            return
        server.rates.au_hz, server.rates.ui_hz, server.rates.image_hz = c.au_rate_hz, c.ui_rate_hz, c.image_rate_hz
        if changed & {"image_width", "jpeg_quality"}:
            server.encode_image = jpeg_encoder(c.image_width, c.jpeg_quality, self._to_bgr)

    # -- callbacks (executor thread): store only -----------------------------------------------
    def _on_utterance(self, msg: Utterance) -> None:
        self.state.on_utterance(msg.id, msg.text, msg.final, stamp_seconds(msg.header.stamp), time.time())

    def _on_user_speaking(self, msg: Bool) -> None:
        self.state.on_user_speaking(bool(msg.data), time.time())

    def _on_analysis(self, msg: AffectAnalysis) -> None:
        self.state.on_analysis(msg.utterance_id, msg.backend, msg.model, msg.rationale, msg.latency_ms)

    def _on_emotion(self, source: str, msg: EmotionState) -> None:
        """The topic names the modality (a producer's `source` field may be custom)."""
        emotion, _problems = emotion_from_msg(msg)  # sanitised; the producers log their own problems
        self.state.on_emotion(source, dict(emotion.weights), emotion.valence, emotion.arousal,
                              emotion.confidence, emotion.utterance_id, time.time())

    def _on_action_units(self, msg: ActionUnits) -> None:
        self.state.on_action_units(list(msg.names), list(msg.intensities), time.time())

    def _on_head_gaze(self, msg: HeadGaze) -> None:
        self.state.on_head_gaze((msg.head_yaw, msg.head_pitch, msg.head_roll), (msg.eye_yaw, msg.eye_pitch))

    def _on_detections(self, msg: FaceDetections) -> None:
        faces = [{"id": f.id, "x": f.x, "y": f.y, "width": f.width, "height": f.height, "score": round(f.score, 3)}
                 for f in msg.faces[:16]]
        width, height = self._image_size()
        self.state.on_detections(faces, width, height)

    def _image_size(self) -> tuple[int, int]:
        image = self.state.latest_image()
        return (int(image.width), int(image.height)) if image is not None else (0, 0)

    # -- the page's text box ----------------------------------------------------------------------
    def _say(self, text: str) -> str:
        """Called from the web thread: queue the utterance for the executor; its id for the page."""
        utterance_id = f"dash-{int(time.time() * 1000)}-{next(self._ids)}"
        self._said.put((utterance_id, text))
        return utterance_id

    def _publish_said(self) -> None:
        while not self._said.empty():
            utterance_id, text = self._said.get_nowait()
            if self._say_pub is not None:
                self._say_pub.publish(make_utterance(self, text, utterance_id))

    # -- face/preview ----------------------------------------------------------------------------
    def _preview_loop(self) -> None:
        """Render the latest AU frame at preview_rate_hz in this thread (never in the executor)."""
        from au_animation.face_model.render import FaceRenderer, View
        from emotion_perception.face.image_io import fill_msg

        size = self.params.config.preview_size
        renderer = FaceRenderer(self.model, View(width=size, height=size))
        seen: dict[str, int] = {}
        while not self._preview_stop.wait(1.0 / self.params.config.preview_rate_hz):
            changed = self.state.changed_since(seen, ["aus"])
            if "aus" not in changed:
                continue
            version, face = changed["aus"]
            seen["aus"] = version
            image = renderer.render(self.model.mesh(face["values"], *face["eye"]), *face["head"])
            msg = fill_msg(Image(), image, "rgb8")
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = "face_preview"
            pub = self._preview_pub
            if pub is not None and not publish_while_up(self, pub, msg):
                return

    def _check(self) -> tuple[int, str, dict]:
        stats = self.server.stats() if self.server is not None else {}
        values = {"url": self.url, **stats}
        if self.server_error:
            return ERROR, self.server_error, values
        if self.model_error:
            return WARN, f"no face: {self.model_error}", values
        return OK, f"serving {self.url}" if self.url else "not active", values


def main(args: list[str] | None = None) -> None:
    run_node(DashboardNode, args)


if __name__ == "__main__":
    main()
