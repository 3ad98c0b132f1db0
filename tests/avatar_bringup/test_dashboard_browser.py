"""The dashboard end to end in a real headless Chromium (Debian's), driven over the DevTools protocol.

The desktop graph runs in-process; the test types an utterance into the page and waits for the
transcript, the emotion bars and the drawn face to change, saves screenshots under tmp_path, and
checks from the browser's own network events that the page requested nothing but its server.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

websocket = pytest.importorskip("websocket")
pytestmark = pytest.mark.ros
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
UTTERANCE = "I got the job, I am so happy!"


class DevTools:
    """A minimal DevTools-protocol client: commands by id, events kept in order."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float, what: str) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                value = self.evaluate(expression)
            except RuntimeError:  # the page is (re)loading: its elements are not there yet
                value = None
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} ({expression})")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        self.ws.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    port = free_port()
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--remote-debugging-port={port}",
         "--remote-allow-origins=*", f"--user-data-dir={tmp_path / 'chromium-profile'}",
         "--window-size=1400,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 30
        pages = []
        while not pages:
            if time.monotonic() > end or proc.poll() is not None:
                raise TimeoutError("chromium did not open its DevTools port")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
            except OSError:
                time.sleep(0.2)
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def stack(ros, tmp_path: Path):
    """The desktop graph (dashboard on a free port) spinning in a background thread."""
    from avatar_bringup.graph import resolve
    from avatar_bringup.stack import Stack

    params = tmp_path / "params.yaml"
    params.write_text("dashboard:\n  ros__parameters:\n    port: 0\n")
    running = Stack(resolve("desktop", params_file=params), context=ros.context, executor=ros.executor)
    running.start()
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ros.executor.spin_once(timeout_sec=0.02)

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        stop.set()
        thread.join(timeout=5)
        running.shutdown()


# Mean grey level of the face canvas in 16 x 16 blocks: enough to see the mouth and brows move.
CANVAS_BLOCKS = """(() => {
  const c = document.getElementById('face'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const n = 16, bw = c.width / n, bh = c.height / n, out = new Array(n * n).fill(0);
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const i = 4 * (y * c.width + x);
    out[Math.floor(y / bh) * n + Math.floor(x / bw)] += (d[i] + d[i + 1] + d[i + 2]) / 3 / (bw * bh);
  }
  return out;
})()"""


def bar(source: str, label: str) -> str:
    return f"""Number((document.querySelector('[data-source="{source}"] [data-label="{label}"]') || {{dataset: {{}}}})
               .dataset.value || 0)"""


def test_type_an_utterance_and_watch_the_face(stack, browser: DevTools, tmp_path: Path) -> None:
    dashboard = next(n for n in stack.nodes if n.get_name() == "dashboard")
    assert dashboard.url.startswith("http://127.0.0.1:"), dashboard.url
    browser.call("Network.enable")
    browser.call("Page.enable")
    browser.call("Page.navigate", url=dashboard.url)
    browser.wait("window.dashboard && window.dashboard.face.mesh !== null && window.dashboard.face.frames > 0",
                 30, "the face mesh drawn")
    browser.wait("document.getElementById('status').textContent === 'live'", 10, "the live connection")
    browser.wait("document.querySelectorAll('#aus [data-label]').length > 5", 30, "AU bars from the 60 Hz stream")
    time.sleep(1.0)  # let the idle face (breathing, blinks) settle into its resting range
    before = browser.evaluate(CANVAS_BLOCKS)
    browser.screenshot(tmp_path / "dashboard-before.png")

    browser.evaluate("document.getElementById('say-text').focus()")
    browser.call("Input.insertText", text=UTTERANCE)
    browser.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13,
                 text="\r")
    browser.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13)

    browser.wait("window.dashboard.page.said.length === 1", 10, "the server's acknowledgement")
    browser.wait(f"document.getElementById('transcript').textContent.includes({json.dumps(UTTERANCE)})", 20,
                 "the utterance in the transcript")
    browser.wait(f"{bar('text', 'happiness')} > 0.3", 60, "the text emotion bars")
    browser.wait(f"{bar('fused', 'happiness')} > 0.2", 20, "the fused emotion bars")
    browser.wait("document.querySelector('#transcript li.final .meta').textContent.includes('ms')", 20,
                 "the analysis backend under the utterance")

    def face_change() -> float:
        after = browser.evaluate(CANVAS_BLOCKS)
        return max(abs(a - b) for a, b in zip(after, before, strict=True))

    end = time.monotonic() + 20
    change = face_change()
    while change < 20 and time.monotonic() < end:
        time.sleep(0.2)
        change = face_change()
    browser.screenshot(tmp_path / "dashboard-after.png")
    assert change >= 20, f"the drawn face barely changed (largest block change {change:.1f} grey levels)"
    latency = browser.evaluate("document.querySelector('#latency tbody').textContent")
    assert "dash-" in latency

    # A reload gets everything back from the server's state.
    browser.call("Page.reload")
    browser.wait(f"document.getElementById('transcript').textContent.includes({json.dumps(UTTERANCE)})", 20,
                 "the transcript after a reload")
    browser.wait("window.dashboard.face.frames > 0", 20, "the face after a reload")

    # Nothing but the dashboard's own server was asked for anything.
    origin = dashboard.url.rstrip("/").split("://", 1)[1]
    urls = [e["params"]["request"]["url"] for e in browser.events if e["method"] == "Network.requestWillBeSent"]
    urls += [e["params"]["url"] for e in browser.events if e["method"] == "Network.webSocketCreated"]
    assert any(u.startswith("ws://") for u in urls) and any(u.endswith("/mesh.bin") for u in urls)
    foreign = [u for u in urls if u.split("://", 1)[-1].split("/", 1)[0] != origin]
    assert not foreign, foreign
    assert (tmp_path / "dashboard-after.png").stat().st_size > 10_000
