"""A loopback OpenAI-compatible HTTP server for tests: POST /v1/chat/completions with scripted replies.

A rule matches when its `match` string occurs in the utterance of the request (the JSON 'utterance'
of the last user message); the first matching rule answers, else the default. `refuse` scripts an
answer by the request's response_format type instead ("json_schema", "json_object", "none"), to play
a server that does not take some formats. Every request is kept (path, headers, parsed body) so tests
can check what the client really sent. Start one server per test (fresh rules and requests).

`RecordingProxy` sits in front of a real server (semantic_affect.text.local_server) to keep what the
client sent.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server answers: a chat completion with `content` (and/or `refusal`), or an error."""

    content: str | None = None
    status: int = 200
    refusal: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | None = None  # sent verbatim instead of a completion (error bodies)
    echo_auth: bool = False  # put the request's Authorization header into the error body
    finish_reason: str = "stop"


def completion(content: str | None, refusal: str | None = None, model: str = "loopback-model",
               finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": refusal}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def llama_cpp_python_refusal() -> Reply:
    """What llama-cpp-python's server 0.3.36 answers to response_format json_schema (HTTP 500)."""
    message = ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
               "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
               "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n  File \"llama_cpp/server/app.py\", "
               "line 376, in create_chat_completion\n    POST /v1/chat/completions")
    body = {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}}
    return Reply(status=500, raw_body=json.dumps(body))


def affect_json(**weights: float) -> str:
    """A valid structured reply with the given weights."""
    return json.dumps({"weights": weights, "valence": 0.0, "arousal": 0.0, "confidence": 0.9,
                       "rationale": "scripted"})


class LoopbackLLM:
    def __init__(self) -> None:
        self.rules: list[tuple[str, Reply]] = []
        self.default = Reply(affect_json(neutral=1.0))
        self.requests: list[dict[str, Any]] = []
        self.refuse: dict[str, Reply] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = {}
                utterance = server.utterance_of(body)
                with server._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    server.requests.append({"path": self.path, "headers": headers, "body": body,
                                            "utterance": utterance})
                reply = server.refusal_for(body) or server.reply_for(utterance)
                if reply.delay:
                    time.sleep(reply.delay)
                if not self.path.endswith("/chat/completions"):
                    reply = Reply(status=404, raw_body='{"error": {"message": "not found"}}')
                if reply.raw_body is not None or reply.status != 200:
                    text = reply.raw_body or json.dumps({"error": {"message": f"scripted {reply.status}",
                                                                   "type": "server_error"}})
                    if reply.echo_auth:
                        text = json.dumps({"error": {"message": "bad key " + self.headers.get("Authorization", "")}})
                    data = text.encode()
                else:
                    data = json.dumps(completion(reply.content, reply.refusal, body.get("model", "m"),
                                                reply.finish_reason)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> LoopbackLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, match: str, reply: Reply) -> None:
        with self._lock:
            self.rules.insert(0, (match, reply))

    def reply_for(self, utterance: str) -> Reply:
        with self._lock:
            for match, reply in self.rules:
                if match in utterance:
                    return reply
            return self.default

    def refusal_for(self, body: dict[str, Any]) -> Reply | None:
        fmt = body.get("response_format")
        with self._lock:
            return self.refuse.get(fmt.get("type", "") if isinstance(fmt, dict) else "none")

    def requests_for(self, match: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if match in r["utterance"]]

    @staticmethod
    def utterance_of(body: dict[str, Any]) -> str:
        try:
            return str(json.loads(body["messages"][-1]["content"]).get("utterance", ""))
        except (KeyError, IndexError, TypeError, ValueError):
            return ""


class RecordingProxy:
    """Forwards POSTs to `target` (a base URL) and keeps each request body: what the client really
    sent to the real server. If the target is unreachable it closes the connection unanswered, as
    the target itself would."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.bodies: list[dict[str, Any]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.bodies.append(json.loads(raw or b"{}"))
                base = proxy.target.rsplit("/v1", 1)[0]
                request = urllib.request.Request(base + self.path, data=raw, method="POST",
                                                 headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=120) as reply:
                        status, data = reply.status, reply.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                except OSError:
                    self.close_connection = True
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its budget ran out)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
