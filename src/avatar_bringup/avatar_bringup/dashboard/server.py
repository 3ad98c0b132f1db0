"""The dashboard's HTTP + WebSocket server (aiohttp), in its own thread with its own event loop.

Why a thread: the ROS executor drives the 60 Hz AU stream and must never wait for a browser. ROS
callbacks only write into a `DashboardState` (a lock, no I/O); this thread reads it at its own
rates and sends to every page.

Why slow pages cannot grow memory: each client has one slot per section, not a queue. A newer
value replaces an unsent one (counted as dropped), and one writer task per client sends what its
slots hold when the socket accepts more. A client that stops reading blocks only its own writer;
heartbeats close dead connections.

Routes: `/` the page, `/static/*` its assets, `/mesh.json` + `/mesh.bin` the face model (see
au_animation.face_model), `/camera.jpg` the latest camera image, `/ws` the live stream and the text
box, `/healthz` counters as JSON. Everything the page needs is served here; it loads nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

from avatar_bringup.dashboard.state import DashboardState

LOG = logging.getLogger("dashboard")
STATIC = Path(str(files("avatar_bringup") / "dashboard" / "static"))
MAX_SAY_CHARS = 500
HEARTBEAT_S = 10.0
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 3.0
SLACK = 0.75  # a section is due after 75 % of its period: sleep() overshoots, and 60 Hz must not become 30

#: say(text) -> the utterance id it was published as; raises ValueError with a reason to refuse
SayHandler = Callable[[str], str]
#: image -> JPEG bytes (downscaled); raises ValueError for an unusable image
ImageEncoder = Callable[[Any], bytes]


@dataclass
class Rates:
    au_hz: float = 60.0
    ui_hz: float = 10.0
    image_hz: float = 4.0


class _Client:
    """One page: the latest unsent value per section, and a writer that sends them."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.pending: dict[str, str] = {}
        self.wake = asyncio.Event()
        self.sent = 0
        self.dropped = 0

    def offer(self, sections: dict[str, str]) -> None:
        self.dropped += sum(1 for name in sections if name in self.pending)
        self.pending.update(sections)
        self.wake.set()

    async def write(self) -> None:
        while not self.ws.closed:
            await self.wake.wait()
            self.wake.clear()
            sections, self.pending = self.pending, {}
            if sections:
                body = ",".join(f'"{name}":{text}' for name, text in sections.items())
                await self.ws.send_str(f'{{"type":"update","sections":{{{body}}}}}')
                self.sent += 1


class DashboardServer:
    """Serve `state` on host:port; `start()` binds (raises OSError if it cannot), `stop()` closes."""

    def __init__(self, state: DashboardState, host: str, port: int, say: SayHandler,
                 mesh: tuple[dict, bytes] | None = None, encode_image: ImageEncoder | None = None,
                 mesh_to_channels: Callable[[dict[str, float], float, float], list[float]] | None = None,
                 rates: Rates | None = None) -> None:
        self.state = state
        self.host = host
        self.port = port
        self.rates = rates or Rates()
        self._say = say
        self._mesh = mesh
        self.encode_image = encode_image  # replaceable at run time (width, quality)
        self._channels = mesh_to_channels
        self._clients: set[_Client] = set()
        self._jpeg: bytes | None = None
        self._jpeg_version = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._said = 0
        self._disconnects = 0

    # -- lifecycle (caller's thread) ---------------------------------------------------------------
    def start(self) -> int:
        """Bind and serve in a new thread; the bound port (useful with port 0)."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, args=(ready, failure), name="dashboard-http",
                                        daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S):
            raise OSError(f"the dashboard server did not start within {START_TIMEOUT_S:.0f} s")
        if failure:
            self._thread.join(STOP_TIMEOUT_S)
            raise failure[0]
        return self.port

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive() and self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
            thread.join(STOP_TIMEOUT_S)
        self._thread = None

    def stats(self) -> dict[str, int]:
        """Counters for diagnostics and the bench (read without locking: ints, approximate is fine)."""
        clients = list(self._clients)
        return {"clients": len(clients), "sent": sum(c.sent for c in clients),
                "dropped": sum(c.dropped for c in clients), "said": self._said, "disconnects": self._disconnects,
                "max_pending": max((len(c.pending) for c in clients), default=0)}

    # -- server thread -----------------------------------------------------------------------------
    def _main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready, failure))
        finally:
            loop.close()
            ready.set()

    async def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.add_routes([web.get("/", self._index), web.get("/mesh.json", self._mesh_json),
                        web.get("/mesh.bin", self._mesh_bin), web.get("/camera.jpg", self._camera),
                        web.get("/healthz", self._health), web.get("/ws", self._websocket),
                        web.static("/static", STATIC)])
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            failure.append(exc)
            await self._runner.cleanup()
            ready.set()
            return
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked
        ready.set()
        broadcaster = asyncio.create_task(self._broadcast())
        await self._stopping.wait()
        broadcaster.cancel()
        for client in list(self._clients):
            await client.ws.close()
        await self._runner.cleanup()

    async def _broadcast(self) -> None:
        """Coalesce the state into per-section JSON at the configured rates and offer it to every page."""
        seen: dict[str, int] = {}
        last = {"aus": 0.0, "ui": 0.0, "image": 0.0}
        while True:
            await asyncio.sleep(1.0 / max(self.rates.au_hz, self.rates.ui_hz))
            if not self._clients:
                continue  # nobody to send to; a page that connects gets the snapshot in its hello
            now = time.monotonic()
            names = []
            if now - last["aus"] >= SLACK / self.rates.au_hz:
                names.append("aus")
            if now - last["ui"] >= SLACK / self.rates.ui_hz:
                names += ["transcript", "emotions", "detections", "latency"]
            if self.rates.image_hz > 0 and now - last["image"] >= SLACK / self.rates.image_hz:
                names.append("image")
            changed = self.state.changed_since(seen, names)
            if not changed:
                continue
            for name, (version, _) in changed.items():
                seen[name] = version
            for group, members in (("aus", ("aus",)), ("ui", ("transcript", "emotions", "detections", "latency")),
                                   ("image", ("image",))):
                if any(m in changed for m in members):
                    last[group] = now
            out = {name: self._section_json(name, payload) for name, (_, payload) in changed.items()}
            out = {k: v for k, v in out.items() if v is not None}
            for client in list(self._clients):
                client.offer(out)

    def _section_json(self, name: str, payload: Any) -> str | None:
        if name == "image":
            return self._refresh_jpeg()
        if name == "aus":
            return json.dumps(self._with_channels(payload), separators=(",", ":"))
        return json.dumps(payload, separators=(",", ":"))

    def _with_channels(self, face: dict[str, Any]) -> dict[str, Any]:
        """The AU section plus the face model's channel values, so the page only blends (no AU logic in JS)."""
        channels = self._channels(face["values"], *face["eye"]) if self._channels is not None else None
        return {**face, "channels": channels}

    def _refresh_jpeg(self) -> str | None:
        image = self.state.latest_image()
        if image is None or self.encode_image is None:
            return None
        try:
            self._jpeg = self.encode_image(image)
        except ValueError as exc:
            LOG.warning("camera image not shown: %s", exc)
            return None
        self._jpeg_version += 1
        return json.dumps({"version": self._jpeg_version})

    # -- handlers ----------------------------------------------------------------------------------
    async def _index(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def _mesh_json(self, _request: web.Request) -> web.Response:
        if self._mesh is None:
            return web.json_response({"error": "face model unavailable (see the dashboard log)"}, status=503)
        return web.json_response(self._mesh[0])

    async def _mesh_bin(self, _request: web.Request) -> web.Response:
        if self._mesh is None:
            return web.Response(status=503, text="face model unavailable")
        return web.Response(body=self._mesh[1], content_type="application/octet-stream")

    async def _camera(self, _request: web.Request) -> web.Response:
        if self._jpeg is None:
            return web.Response(status=404, text="no camera image yet")
        return web.Response(body=self._jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=64 * 1024)
        await ws.prepare(request)
        client = _Client(ws)
        hello = {"type": "hello", "sections": self.state.snapshot(), "mesh": self._mesh is not None,
                 "camera": self._jpeg is not None}
        if "aus" in hello["sections"]:
            hello["sections"]["aus"] = self._with_channels(hello["sections"]["aus"])
        await ws.send_str(json.dumps(hello, separators=(",", ":")))
        self._clients.add(client)
        writer = asyncio.create_task(client.write())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_message(client, message.data)
        finally:
            self._clients.discard(client)
            self._disconnects += 1
            writer.cancel()
        return ws

    async def _on_message(self, client: _Client, data: str) -> None:
        """Messages from a page: {"type": "say", "text": ...}. Anything else is answered with an error."""
        try:
            message = json.loads(data)
            if not isinstance(message, dict) or message.get("type") != "say":
                raise ValueError("unknown message; expected {\"type\": \"say\", \"text\": ...}")
            text = clean_text(message.get("text"))
            utterance_id = self._say(text)
            self._said += 1
            reply = {"type": "said", "id": utterance_id, "text": text}
        except (ValueError, TypeError) as exc:
            reply = {"type": "error", "error": str(exc)}
        await client.ws.send_str(json.dumps(reply))


def clean_text(text: Any) -> str:
    """What the text box may send into the graph: a non-empty line of printable text, bounded."""
    if not isinstance(text, str):
        raise ValueError("text must be a string")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    if not text:
        raise ValueError("the text is empty")
    if len(text) > MAX_SAY_CHARS:
        raise ValueError(f"the text is longer than {MAX_SAY_CHARS} characters")
    return text


def jpeg_encoder(width: int, quality: int, to_bgr: Callable[[Any], np.ndarray]) -> ImageEncoder:
    """An ImageEncoder: `to_bgr(image)` (raising ValueError for bad images), downscale to `width`, JPEG."""
    import cv2

    def encode(image: Any) -> bytes:
        bgr = to_bgr(image)
        if bgr.shape[1] > width:
            bgr = cv2.resize(bgr, (width, max(1, round(bgr.shape[0] * width / bgr.shape[1]))),
                             interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return data.tobytes()

    return encode
