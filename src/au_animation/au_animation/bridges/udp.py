"""A UDP sender that never raises: resolution and send errors go to health with backoff.

UDP has no connection, so "receiver down" shows up only as ICMP errors (ECONNREFUSED on a later
send of a connected socket) or as resolution / routing errors. We use a connected socket so those
errors surface, count them, and stop sending until the backoff time has passed.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

from au_animation.bridges.health import TargetHealth

LOG = logging.getLogger(__name__)


def parse_endpoint(text: str, default_port: int | None = None) -> tuple[str, int]:
    """'HOST:PORT', '[v6]:PORT' or ':PORT' (= 127.0.0.1) -> (host, port); ValueError if malformed."""
    text = text.strip()
    if not text:
        raise ValueError("empty endpoint")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" not in text:
        host, port_text = text, ""
    else:
        raise ValueError(f"endpoint {text!r}: write IPv6 addresses as [addr]:port")
    host = host or "127.0.0.1"
    if not port_text:
        if default_port is None:
            raise ValueError(f"endpoint {text!r} has no port (HOST:PORT)")
        return host, default_port
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"endpoint {text!r}: port {port} out of range")
    return host, port


class UdpSender:
    """Sends datagrams to one HOST:PORT; errors are recorded in `health`, never raised."""

    def __init__(self, name: str, host: str, port: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.port = host, port
        self.health = TargetHealth(name, clock=clock)
        self._clock = clock
        self._sock: socket.socket | None = None

    def _connect(self, now: float) -> bool:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, _, _, _, addr = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(addr)
        except OSError as exc:
            self._fail(exc, now)
            return False
        self._sock = sock
        self.health.connected()
        return True

    def _fail(self, exc: OSError, now: float) -> None:
        delay = self.health.fail(exc, now)
        if self.health.log_text:
            LOG.warning("%s %s:%d: %s (retrying with backoff, %.2f s)", self.health.name, self.host,
                        self.port, self.health.log_text, delay)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send(self, data: bytes | list[bytes], now: float | None = None) -> bool:
        """Send one datagram (or several); False when skipped or failed."""
        now = self._clock() if now is None else now
        if self._sock is None and (not self.health.retry_due(now) or not self._connect(now)):
            self.health.dropped += 1
            return False
        datagrams = data if isinstance(data, list) else [data]
        try:
            total = 0
            for datagram in datagrams:
                total += self._sock.send(datagram)
        except BlockingIOError:
            self.health.dropped += 1  # socket buffer full: drop this frame, the next one replaces it
            return False
        except OSError as exc:
            self._fail(exc, now)
            return False
        self.health.ok(total)
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
