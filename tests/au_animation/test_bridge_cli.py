"""`au-synth ... | face-bridge ...` without ROS: real processes, a real pipe, packets decoded here."""

from __future__ import annotations

import json
import shlex
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest

PY = shlex.quote(sys.executable)


def live_link_values(packet: bytes) -> tuple[int, np.ndarray]:
    """(frame number, 61 values) from a version-6 Live Link Face packet (layout in livelink.py)."""
    assert packet[0] == 6
    pos = 1
    for _ in range(2):
        (length,) = struct.unpack_from(">i", packet, pos)
        pos += 4 + length
    frame = struct.unpack_from(">i", packet, pos)[0]
    assert packet[pos + 16] == 61
    return frame, np.array(struct.unpack_from(">61f", packet, pos + 17))


def receive_all(sock: socket.socket) -> list[bytes]:
    sock.setblocking(False)
    out = []
    while True:
        try:
            out.append(sock.recv(4096))
        except BlockingIOError:
            return out


@pytest.mark.parametrize("curves", ["au", "arkit"])
def test_au_synth_pipe_to_live_link(receiver: socket.socket, curves: str, tmp_path) -> None:
    port = receiver.getsockname()[1]
    synth = f"{PY} -m au_animation.synth_cli --emotion happiness=1 --duration 1 --no-life --curves {curves}"
    bridge = f"{PY} -m au_animation.bridge_cli --input - --livelink 127.0.0.1:{port} --livelink-subject Pipe"
    tee = f"tee {shlex.quote(str(tmp_path / 'frames.jsonl'))}"
    proc = subprocess.run(f"set -o pipefail; {synth} | {tee} | {bridge}", shell=True, executable="/bin/bash",
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    packets = [live_link_values(p) for p in receive_all(receiver)]
    rows = [json.loads(line) for line in (tmp_path / "frames.jsonl").read_text().splitlines()]
    assert summary["frames_in"] == len(rows) and summary["livelink.errors"] == 0
    # at most 60 fps, paced by "t": a loaded machine may merge late frames, the last one always arrives
    assert 0.5 * len(rows) <= len(packets) <= len(rows)
    frames = [f for f, _ in packets]
    assert frames == list(range(frames[0], frames[0] + len(frames)))
    from au_animation.retarget import load_retarget

    names = load_retarget("arkit").names
    smile = np.array([v[names.index("mouthSmileLeft")] for _, v in packets])
    assert smile[-1] > 0.3 and smile[-1] > smile[0]  # happiness: the smile rises
    if curves == "arkit":  # already retargeted curves pass through unchanged
        last = rows[-1]["curves"]
        np.testing.assert_allclose(packets[-1][1][:52], [last.get(n, 0.0) for n in names], atol=1e-6)


def test_bad_rows_are_skipped_and_counted(receiver: socket.socket) -> None:
    port = receiver.getsockname()[1]
    text = ('{"t": 0, "curves": {"AU12": 0.5}}\nnot json\n[1]\n{"t": "x", "curves": {}}\n'
            '{"t": 0.02, "curves": {"AU12": 0.6}}\n')
    proc = subprocess.run([sys.executable, "-m", "au_animation.bridge_cli", "--livelink", f"127.0.0.1:{port}"],
                          input=text, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["frames_in"] == 2 and summary["frames_bad"] == 3
    assert len(receive_all(receiver)) == 2


def test_sigterm_ramps_servos_to_neutral(tmp_path) -> None:
    import signal
    import time

    from au_animation.bridges.servo import load_servo_map

    log = tmp_path / "servo.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "au_animation.bridge_cli", "--servo-log", str(log),
                             "--input-timeout", "30", "--no-pace"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write('{"t": 0, "curves": {"AU26": 1.0, "AU27": 1.0, "AU12": 1.0}}\n')
        proc.stdin.flush()  # stdin stays open: only the signal ends the run
        jaw = [c.name for c in load_servo_map().channels].index("jaw")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            lines = log.read_text().splitlines() if log.exists() else []
            if lines and json.loads(lines[-1])["us"][jaw] >= 1500:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    neutral = [c.neutral for c in load_servo_map().channels]
    assert rows[0]["us"] == neutral and rows[-1]["us"] == neutral
    assert max(r["us"][jaw] for r in rows) >= 1500  # it had moved, the stop brought it back
