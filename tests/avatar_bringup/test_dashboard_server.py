"""The dashboard's state store and its aiohttp server, with real WebSocket and HTTP clients (no ROS)."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from avatar_bringup.dashboard.server import STATIC, DashboardServer, Rates, clean_text
from avatar_bringup.dashboard.state import DashboardState
from ros_harness import wait_until

websocket = pytest.importorskip("websocket")


# -- state -------------------------------------------------------------------------------------------
def test_final_utterance_replaces_its_partials_and_keeps_the_analysis() -> None:
    state = DashboardState(transcript_lines=2)
    state.on_utterance("asr-1", "I got", False, 100.0, 100.1)
    state.on_utterance("asr-1", "I got the job", True, 100.5, 101.0)
    state.on_analysis("asr-1", "offline", "minilm", "sounds happy", 24.0)
    state.on_analysis("nobody", "llm", "x", "y", 1.0)  # unknown id: ignored
    transcript = state.snapshot()["transcript"]
    assert [(u["id"], u["text"], u["final"]) for u in transcript] == [("asr-1", "I got the job", True)]
    assert transcript[0]["analysis"]["rationale"] == "sounds happy"
    state.on_utterance("asr-2", "two", True, 0.0, 102.0)
    state.on_utterance("asr-3", "three", True, 0.0, 103.0)
    assert [u["id"] for u in state.snapshot()["transcript"]] == ["asr-2", "asr-3"]  # bounded


def test_latency_follows_one_utterance_through_the_graph() -> None:
    state = DashboardState()
    state.on_utterance("u1", "hello", True, speech_end=10.0, now=10.5)
    state.on_emotion("text", {"happiness": 0.8}, 0.5, 0.3, 0.9, "u1", now=10.6)
    state.on_emotion("fused", {"happiness": 0.6}, 0.4, 0.2, 0.9, "", now=10.62)
    state.on_action_units(["AU12"], [0.3], now=10.64)
    row = state.snapshot()["latency"][0]
    assert row["id"] == "u1"
    assert row["asr_ms"] == pytest.approx(500.0)
    assert row["text_affect_ms"] == pytest.approx(100.0)
    assert row["fusion_ms"] == pytest.approx(20.0)
    assert row["face_ms"] == pytest.approx(20.0)
    assert row["total_ms"] == pytest.approx(640.0)
    # An end-of-speech stamp on another clock (sim time) is not a latency.
    state.on_utterance("u2", "hi", True, speech_end=5.0, now=1_000_000.0)
    assert state.snapshot()["latency"][0]["asr_ms"] is None


def test_latency_splits_the_vad_endpoint_from_asr() -> None:
    """Spoken input: user_speaking turns false 200 ms after the end of speech, the transcript 400 ms later."""
    state = DashboardState()
    state.on_user_speaking(True, now=9.0)
    state.on_user_speaking(False, now=10.2)
    state.on_utterance("asr-1", "hello", True, speech_end=10.0, now=10.6)
    state.on_emotion("text", {"happiness": 0.8}, 0.5, 0.3, 0.9, "asr-1", now=10.7)
    state.on_emotion("fused", {"happiness": 0.6}, 0.4, 0.2, 0.9, "", now=10.71)
    state.on_action_units(["AU12"], [0.3], now=10.73)
    row = state.snapshot()["latency"][0]
    assert row["vad_ms"] == pytest.approx(200.0) and row["asr_ms"] == pytest.approx(400.0)
    assert row["total_ms"] == pytest.approx(730.0)
    # an edge from before this utterance's end of speech is not its endpoint
    state.on_utterance("asr-2", "again", True, speech_end=12.0, now=12.7)
    row = state.snapshot()["latency"][0]
    assert row["vad_ms"] is None and row["asr_ms"] == pytest.approx(700.0)


def test_hostile_values_stay_in_range() -> None:
    state = DashboardState()
    state.on_action_units(["AU12", "AU45"], [float("nan"), 7.0], now=1.0)
    state.on_emotion("fused", {"happiness": float("inf"), "bogus": 1.0}, float("nan"), 0.0, 1.0, "", now=1.0)
    state.on_emotion("telepathy", {"happiness": 1.0}, 0, 0, 1, "", now=1.0)  # unknown source: ignored
    snap = state.snapshot()
    assert snap["aus"]["values"] == {"AU12": 0.0, "AU45": 1.0}
    state.on_head_gaze([float("nan"), 9.0, -0.2], [0.1, -9.0])
    assert state.snapshot()["aus"]["head"] == [0.0, 1.5708, -0.2]
    assert state.snapshot()["aus"]["eye"] == [0.1, -1.5708]
    assert snap["emotions"]["fused"]["weights"] == {"happiness": 0.0}
    assert set(snap["emotions"]) == {"fused"}
    state.on_action_units([f"{i}<img src=x onerror=alert(1)>" for i in range(1000)], [0.5] * 1000, now=2.0)
    assert len(state.snapshot()["aus"]["values"]) == 64
    assert all(len(name) <= 16 for name in state.snapshot()["aus"]["values"])
    json.dumps(snap, allow_nan=False)


def test_clean_text() -> None:
    assert clean_text("  hello\n\tthere\x00 ") == "hello there"
    for bad in ("", "   ", None, 3, "x" * 501):
        with pytest.raises(ValueError):
            clean_text(bad)


# -- server ------------------------------------------------------------------------------------------
@pytest.fixture
def served():
    state = DashboardState()
    said: list[str] = []

    def say(text: str) -> str:
        said.append(text)
        return f"dash-{len(said)}"

    server = DashboardServer(state, "127.0.0.1", 0, say=say, mesh=({"vertices": 478}, b"\0" * 16),
                             mesh_to_channels=lambda aus, eye_yaw, eye_pitch: [aus.get("AU12", 0.0), eye_yaw],
                             rates=Rates(60.0, 20.0, 0.0))
    port = server.start()
    yield state, server, port, said
    server.stop()


def receive_until(ws, predicate, timeout: float = 10.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ws.settimeout(max(0.05, end - time.monotonic()))
        message = json.loads(ws.recv())
        if predicate(message):
            return message
    raise TimeoutError("no matching message")


def test_page_and_assets_are_served_and_only_local(served) -> None:
    _, _, port, _ = served
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(base + "/") as r:
        page = r.read().decode()
    assert "/static/app.js" in page
    for name in ("app.js", "style.css"):
        with urllib.request.urlopen(f"{base}/static/{name}") as r:
            assert r.status == 200
    with urllib.request.urlopen(base + "/mesh.bin") as r:
        assert len(r.read()) == 16
    # No asset names another host: every URL in them is relative, or this page's own host.
    for path in Path(STATIC).iterdir():
        text = path.read_text()
        assert not re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name


def test_without_a_face_model_the_mesh_is_503() -> None:
    server = DashboardServer(DashboardState(), "127.0.0.1", 0, say=lambda text: "x")
    port = server.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/mesh.json")
        assert err.value.code == 503
    finally:
        server.stop()


def test_a_busy_port_is_an_oserror() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = DashboardServer(DashboardState(), "127.0.0.1", busy.getsockname()[1], say=lambda text: "x")
        with pytest.raises(OSError):
            server.start()


def test_hello_updates_and_say(served) -> None:
    state, _, port, said = served
    state.on_utterance("u1", "earlier", True, 0.0, 1.0)
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=10)
    try:
        hello = json.loads(ws.recv())
        assert hello["type"] == "hello" and hello["mesh"] is True
        assert hello["sections"]["transcript"][0]["text"] == "earlier"
        state.on_action_units(["AU12"], [0.5], now=2.0)
        update = receive_until(ws, lambda m: "aus" in m.get("sections", {}))
        state.on_head_gaze([0.1, 0.0, 0.0], [0.2, 0.0])
        update = receive_until(ws, lambda m: m.get("sections", {}).get("aus", {}).get("eye") == [0.2, 0.0])
        assert update["sections"]["aus"] == {"values": {"AU12": 0.5}, "head": [0.1, 0.0, 0.0], "eye": [0.2, 0.0],
                                             "channels": [0.5, 0.2]}
        ws.send(json.dumps({"type": "say", "text": "  hello   there "}))
        reply = receive_until(ws, lambda m: m["type"] in ("said", "error"))
        assert reply == {"type": "said", "id": "dash-1", "text": "hello there"} and said == ["hello there"]
        for bad in ("not json", json.dumps({"type": "say", "text": ""}), json.dumps({"type": "launch"}),
                    json.dumps([1, 2])):
            ws.send(bad)
            assert receive_until(ws, lambda m: m["type"] in ("said", "error"))["type"] == "error"
        assert said == ["hello there"]
    finally:
        ws.close()


def test_slow_clients_are_coalesced_not_queued(served) -> None:
    """Ten pages, one never reads, one leaves mid-stream: the rest keep up, nothing piles up."""
    state, server, port, _ = served
    clients = [websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=10) for _ in range(10)]
    for ws in clients:
        ws.recv()  # hello
    wait_until(lambda: server.stats()["clients"] == 10, 5, "10 clients")
    stalled, leaving, readers = clients[0], clients[1], clients[2:]
    big = [f"AU{i:02d}" for i in range(1, 60)]
    for k in range(400):
        state.on_action_units(big, [k / 400.0] * len(big), now=float(k))
        if k == 200:
            leaving.close()
        time.sleep(0.002)
    for ws in readers:  # every reading page ends on the last frame
        receive_until(ws, lambda m: m.get("sections", {}).get("aus", {}).get("values", {}).get("AU01") == 0.9975)
    stats = server.stats()
    assert stats["disconnects"] >= 1
    assert stats["max_pending"] <= 6  # one slot per section, whatever the stalled page does
    wait_until(lambda: server.stats()["clients"] == 9, 5, "the leaving client gone")
    for ws in [stalled, *readers]:
        ws.close()
