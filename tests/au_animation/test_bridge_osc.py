"""OSC output read back by independent implementations: liblo's oscdump and python-osc's parser."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from au_animation.bridges.osc import OscEncoder, encode_message
from au_animation.retarget import load_retarget
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from ros_harness import wait_until

FACE_BRIDGE = [sys.executable, "-m", "au_animation.bridge_cli"]
OSCDUMP = shutil.which("oscdump")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_port_taken(port: int) -> bool:
    """True once another process (oscdump) has bound `port`: our own bind then fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def au_rows(n: int = 12) -> list[dict]:
    rows = []
    for i in range(n):
        x = i / (n - 1)
        rows.append({"t": i / 60.0, "curves": {"AU01": 0.5 * x, "AU12": x, "AU12R": 0.3, "AU26": 1.0 - x,
                                               "AU45": float("nan") if i == 3 else 0.2}})
    return rows


def run_bridge(rows: list[dict], *args: str, timeout: float = 20.0) -> dict:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    proc = subprocess.run([*FACE_BRIDGE, "--input", "-", *args], input=text, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_oscdump(text: str) -> list[tuple[str, float]]:
    """oscdump prints '<timetag> <address> <types> <args...>' per message."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] == "f":
            out.append((parts[1], float(parts[3])))
    return out


@pytest.mark.skipif(OSCDUMP is None, reason="oscdump not installed (Debian liblo-tools)")
@pytest.mark.parametrize("mode", ["bundle", "message"])
def test_oscdump_receives_metahuman_curves(mode: str) -> None:
    port = free_udp_port()
    names = load_retarget("metahuman").names
    dump = subprocess.Popen([OSCDUMP, "-L", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(dump.stdout), daemon=True)
    reader.start()
    try:
        wait_until(lambda: udp_port_taken(port), 10, "oscdump to bind its port")
        rows = au_rows()
        summary = run_bridge(rows, "--osc", f"127.0.0.1:{port}", "--osc-mode", mode, "--osc-rate-hz", "0")
        wait_until(lambda: len(parse_oscdump("".join(lines))) >= len(rows) * len(names), 10, "oscdump's output")
    finally:
        dump.terminate()
        dump.wait(timeout=5)
        reader.join(timeout=5)
    assert summary["osc.sent"] == len(rows) and summary["osc.errors"] == 0
    received = parse_oscdump("".join(lines))
    assert len(received) == len(rows) * len(names), "".join(lines)[:500]
    addresses = {a for a, _ in received}
    assert addresses == {"/face/" + n for n in names}
    assert "/face/CTRL_expressions_mouthCornerPullR" in addresses
    values = np.array([v for _, v in received])
    assert np.all((values >= 0.0) & (values <= 1.0))
    # The last frame's values are the retargeted AUs (oscdump prints 6 decimals).
    last = dict(received[-len(names):])
    expected = load_retarget("metahuman").apply({k: v for k, v in rows[-1]["curves"].items()})
    for name, value in zip(names, expected, strict=True):
        assert last["/face/" + name] == pytest.approx(value, abs=2e-6)
    assert last["/face/CTRL_expressions_mouthCornerPullR"] > last["/face/CTRL_expressions_browRaiseInL"] > 0.0


def test_bundle_parsed_by_python_osc_and_split_by_size() -> None:
    names = [f"curve{i:03d}" for i in range(100)]
    values = np.linspace(0.0, 1.0, len(names))
    encoder = OscEncoder(names, prefix="/face/", mode="bundle", max_datagram=1024)
    datagrams = encoder.encode(values)
    assert len(datagrams) > 1 and all(len(d) <= 1024 for d in datagrams)
    got = []
    for datagram in datagrams:
        assert OscBundle.dgram_is_bundle(datagram)
        bundle = OscBundle(datagram)
        got += [(m.address, m.params[0]) for m in bundle]
    assert [a for a, _ in got] == ["/face/" + n for n in names]
    np.testing.assert_allclose([v for _, v in got], values.astype(np.float32), rtol=0, atol=0)


def test_message_mode_and_address_validation() -> None:
    encoder = OscEncoder(["jawOpen", "eyeBlinkLeft"], prefix="/arkit/", mode="message")
    datagrams = encoder.encode(np.array([0.25, 1.0]))
    messages = [OscMessage(d) for d in datagrams]
    assert [(m.address, m.params) for m in messages] == [("/arkit/jawOpen", [0.25]), ("/arkit/eyeBlinkLeft", [1.0])]
    assert encode_message("/a", 0.5) == b"/a\x00\x00,f\x00\x00" + bytes.fromhex("3f000000")
    with pytest.raises(ValueError):
        OscEncoder(["bad name"], prefix="/face/")


def test_cli_help_lists_node_parameter_options() -> None:
    out = subprocess.run([*FACE_BRIDGE, "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ("--osc", "--livelink", "--maestro", "--servo-map", "--curves", "--osc-rate-hz", "--input-timeout"):
        assert flag in out


def test_cli_rejects_bad_endpoint(tmp_path: Path) -> None:
    proc = subprocess.run([*FACE_BRIDGE, "--osc", "localhost:notaport"], input="", capture_output=True,
                          text=True, check=False, timeout=20)
    assert proc.returncode == 2 and "osc" in proc.stderr
