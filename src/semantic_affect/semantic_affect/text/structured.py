"""Which `response_format` a server takes: negotiated once per base URL, remembered for the process.

OpenAI, llama.cpp's `llama-server`, vLLM and Ollama take `{"type": "json_schema", ...}`;
llama-cpp-python's server refuses it (HTTP 500 naming response_format) but takes
`{"type": "json_object", "schema": ...}`; some servers take neither. With `structured_output: auto`
a refusal that names the response format moves that server one step down json_schema ->
json_object -> off (prompt only), logged once; the choice is kept for every later request (and for
clients created later, e.g. after a model change) to the same base URL.

The reply's token limit is negotiated the same way: `max_tokens` is what local servers know, while
OpenAI's reasoning models refuse it and ask for `max_completion_tokens`; such a refusal switches
that server to the other name (whatever structured_output says: the limit is always sent).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from semantic_affect.text.schema import json_schema

MODES = ("json_schema", "json_object", "off")
OPENAI_URL = "https://api.openai.com/v1"
# Statuses that are never about the request's shape: auth, missing route, timeouts, rate limits.
NOT_FORMAT_STATUS = frozenset({401, 403, 404, 408, 429})
FORMAT_WORDS = ("response_format", "json_schema", "json_object")

TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")

_lock = threading.Lock()
_accepted: dict[str, str] = {}  # base URL -> the mode it is known to take
_token_field: dict[str, str] = {}  # base URL -> the name of the token limit it takes


def url_key(base_url: str | None) -> str:
    return (base_url or OPENAI_URL).strip().rstrip("/")


def response_format(mode: str) -> dict[str, Any] | None:
    """The request's response_format for a mode; None = leave it out (prompt-only JSON)."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "affect", "strict": True, "schema": json_schema()}}
    if mode == "json_object":
        return {"type": "json_object", "schema": json_schema()}
    return None


def refuses_format(status: int, text: str) -> bool:
    """True when an HTTP error is the server refusing our response_format rather than failing."""
    if status in NOT_FORMAT_STATUS:
        return False
    lowered = text.lower()
    return any(word in lowered for word in FORMAT_WORDS)


def refuses_token_field(status: int, text: str, field: str) -> bool:
    """True when an HTTP 400 says the token limit must be sent under the other name."""
    other = TOKEN_FIELDS[1 - TOKEN_FIELDS.index(field)]
    return status == 400 and field in text and other in text


def forget(base_url: str | None = None) -> None:
    """Drop what was learnt about one server (or all): for a server replaced at the same URL."""
    with _lock:
        for memory in (_accepted, _token_field):
            if base_url is None:
                memory.clear()
            else:
                memory.pop(url_key(base_url), None)


class Negotiation:
    """The structured-output mode for one client; `requested` is auto or a fixed mode."""

    def __init__(self, requested: str, base_url: str | None, log: Callable[[str, str], None]) -> None:
        if requested != "auto" and requested not in MODES:
            raise ValueError(f"structured_output {requested!r} is not auto or one of {', '.join(MODES)}")
        self.requested = requested
        self.key = url_key(base_url)
        self._log = log

    @property
    def mode(self) -> str:
        if self.requested != "auto":
            return self.requested
        with _lock:
            return _accepted.get(self.key, MODES[0])

    def refused(self, mode: str, detail: str) -> str | None:
        """The server refused `mode`: the next mode to try now, or None (fixed mode, or none left)."""
        if self.requested != "auto" or mode == MODES[-1]:
            return None
        following = MODES[MODES.index(mode) + 1]
        with _lock:
            first = _accepted.get(self.key, MODES[0]) == mode
            if first:
                _accepted[self.key] = following
            current = _accepted.get(self.key, following)
        if first:
            self._log("warn", f"{self.key} refuses response_format {mode} ({detail[:120]}); using {following} "
                              "for this server from now on")
        return current

    @property
    def token_field(self) -> str:
        with _lock:
            return _token_field.get(self.key, TOKEN_FIELDS[0])

    def token_field_refused(self, field: str, detail: str) -> None:
        """The server wants the token limit under the other name: use it from now on (logged once)."""
        other = TOKEN_FIELDS[1 - TOKEN_FIELDS.index(field)]
        with _lock:
            first = _token_field.get(self.key, TOKEN_FIELDS[0]) == field
            if first:
                _token_field[self.key] = other
        if first:
            self._log("warn", f"{self.key} refuses {field} ({detail[:120]}); sending {other} from now on")
