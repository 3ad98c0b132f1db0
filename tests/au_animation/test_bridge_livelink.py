"""Live Link Face packets decoded by a reader written here from the layout documented in livelink.py."""

from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest
from au_animation.bridges.frames import split
from au_animation.bridges.livelink import LiveLinkEncoder
from au_animation.bridges.pipeline import BridgeConfig, BridgeSet
from au_animation.retarget import load_retarget


def decode(packet: bytes) -> dict:
    """Version-6 Live Link Face packet: uint8 version, BE int32-length-prefixed device id and
    subject, BE frame number (int32), sub-frame (float32), rate numerator/denominator (int32),
    uint8 count, count BE float32."""
    pos = 0
    version = packet[pos]
    pos += 1
    fields = []
    for _ in range(2):
        (length,) = struct.unpack_from(">i", packet, pos)
        pos += 4
        fields.append(packet[pos:pos + length].decode("utf-8"))
        pos += length
    frame, sub, num, den = struct.unpack_from(">ifii", packet, pos)
    pos += 16
    count = packet[pos]
    pos += 1
    values = struct.unpack_from(f">{count}f", packet, pos)
    pos += 4 * count
    assert pos == len(packet), "trailing bytes"
    return {"version": version, "device": fields[0], "subject": fields[1], "frame": frame, "sub": sub,
            "rate": (num, den), "count": count, "values": np.array(values)}


def test_bridge_sends_decodable_packets_with_advancing_frames(receiver: socket.socket) -> None:
    port = receiver.getsockname()[1]
    bridges = BridgeSet(BridgeConfig(livelink=f"127.0.0.1:{port}", livelink_subject="TestFace",
                                     livelink_rate_hz=0))
    arkit = load_retarget("arkit")
    frames = []
    for i in range(10):
        aus = {"AU06": 0.1 * i, "AU12": 0.08 * i, "AU26": 0.5, "AU45": float("nan") if i == 4 else 0.0}
        frames.append(aus)
        bridges.push(split({**aus, "headYaw": 0.1}, t=i / 60))
    packets = [decode(receiver.recv(2048)) for _ in frames]
    bridges.close()
    assert bridges.livelink.health.sent == 10 and bridges.livelink.health.errors == 0
    for aus, p in zip(frames, packets, strict=True):
        assert p["version"] == 6 and p["subject"] == "TestFace" and p["count"] == 61
        assert p["rate"] == (60, 1) and len(p["device"]) == 36
        shapes = p["values"][:52]
        np.testing.assert_allclose(shapes, arkit.apply(aus).astype(np.float32), atol=1e-7)
        assert np.all((shapes >= 0) & (shapes <= 1))
        assert p["values"][52] == pytest.approx(0.1)  # head yaw passed through
        assert np.all(p["values"][53:] == 0.0)
    assert [p["frame"] - packets[0]["frame"] for p in packets] == list(range(10))
    by_name = dict(zip(arkit.names, packets[-1]["values"][:52], strict=True))
    assert by_name["jawOpen"] > 0.2 and by_name["mouthSmileLeft"] > 0.3 and by_name["eyeBlinkLeft"] == 0.0


def test_arkit_order_is_unreal_live_link_order() -> None:
    """Spot checks of Unreal's EARFaceBlendShape order that the packet positions depend on."""
    names = load_retarget("arkit").names
    assert (names[0], names[7], names[14], names[17], names[18], names[23], names[41], names[43], names[51]) == (
        "eyeBlinkLeft", "eyeBlinkRight", "jawForward", "jawOpen", "mouthClose", "mouthSmileLeft",
        "browDownLeft", "browInnerUp", "tongueOut")


def test_encoder_layout_bytes() -> None:
    enc = LiveLinkEncoder([f"s{i}" for i in range(52)], subject="S", device_id="D", start_frame=7)
    packet = enc.encode(np.full(52, 2.0), rotations=[float("nan")] * 9)
    assert len(packet) == 270 + 1 + 1
    assert packet[:11] == b"\x06\x00\x00\x00\x01D\x00\x00\x00\x01S"
    p = decode(packet)
    assert p["frame"] == 7 and np.all(p["values"][:52] == 1.0) and np.all(p["values"][52:] == 0.0)
    assert decode(enc.encode(np.zeros(52)))["frame"] == 8
    with pytest.raises(ValueError):
        LiveLinkEncoder(["a"] * 51)


def test_receiver_down_is_retried_with_backoff_not_raised() -> None:
    # Find a port with nobody listening; ICMP port-unreachable makes the next send fail.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    bridges = BridgeSet(BridgeConfig(livelink=f"127.0.0.1:{port}", livelink_rate_hz=0))
    health = bridges.livelink.health
    t0 = time.monotonic()
    for i in range(20):
        bridges.push(split({"AU12": 0.5}), now=t0 + i * 0.01)
        time.sleep(0.002)
    assert health.errors >= 1 and "refused" in health.last_error.lower()
    # Ten more seconds (stream time) of a dead receiver: retries back off instead of every 0.25 s.
    for i in range(200):
        bridges.push(split({"AU12": 0.5}), now=t0 + 0.2 + i * 0.05)
        time.sleep(0.002)
    assert 3 <= health.reconnects <= 8 and health.backoff.delay() >= 2.0
    assert health.dropped > 0 and not health.up
    level, message, _ = bridges.status()
    assert level == 1 and "livelink" in message
    # The receiver comes up: after the backoff the bridge reconnects and packets arrive.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(2.0)
    try:
        bridges.push(split({"AU12": 0.5}), now=t0 + 30.0)
        assert decode(sock.recv(2048))["count"] == 61
        assert health.up and health.reconnects >= 1
    finally:
        sock.close()
        bridges.close()


def test_rate_limit_holds_back_and_flushes_the_latest_frame(receiver: socket.socket) -> None:
    port = receiver.getsockname()[1]
    clock = [50.0]
    bridges = BridgeSet(BridgeConfig(livelink=f"127.0.0.1:{port}", livelink_rate_hz=60), clock=lambda: clock[0])
    arkit = load_retarget("arkit")
    for i in range(4):  # a burst: four frames within 4 ms (< a quarter of the 60 Hz period)
        bridges.push(split({"AU26": 0.2 * (i + 1)}))
        clock[0] += 0.0008
    assert bridges.holding
    bridges.flush()  # too early: still held
    clock[0] += 1 / 60
    bridges.flush()
    assert not bridges.holding
    bridges.push(split({"AU26": 0.1}))  # held again (< 1 period), sent by close()
    bridges.close()
    packets = [decode(receiver.recv(2048)) for _ in range(3)]
    jaw = arkit.names.index("jawOpen")
    expected = [arkit.apply({"AU26": v})[jaw] for v in (0.2, 0.8, 0.1)]
    np.testing.assert_allclose([p["values"][jaw] for p in packets], expected, atol=1e-6)
    receiver.settimeout(0.2)
    with pytest.raises(TimeoutError):
        receiver.recv(2048)
