"""Backend policy: which backend answers, fallback within the time budget, circuit breaker, and the
gate that drops results older than one already published.

- mode "offline": the offline classifier only.
- mode "llm": the LLM; on timeout / HTTP error / rate limit / refusal / invalid reply (or while the
  circuit breaker is open) the offline result for that utterance, backend "fallback:<reason>".
- mode "auto": "llm" when an API key is set (OPENAI_API_KEY) or a base_url names a server (local
  servers need no key), else "offline".
The utterance's budget (`timeout_s`) starts when the policy receives it: the LLM call runs in a
worker thread with that deadline (its requests and retries fit inside it) and is abandoned when it
passes, so an answer always comes within timeout_s plus the offline latency; a reply arriving later
is discarded with a log line. The circuit breaker counts failures of the endpoint (timeouts,
connection and HTTP errors), not replies whose content is unusable: those fall back one by one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from semantic_affect.text.analysis import Analysis, neutral
from semantic_affect.text.llm import LlmError, LogFn, default_log, redact

MODES = ("auto", "llm", "offline")
# Failures of the reply's content. The breaker guards against an endpoint that is down or overloaded,
# so these count as the endpoint working (each utterance still falls back on its own).
REPLY_KINDS = frozenset({"invalid_reply", "uninformative", "refusal"})


class Backend(Protocol):
    model: str

    def analyze(self, text: str, context: Sequence[str] = ()) -> Analysis: ...


class DeadlineBackend(Protocol):
    """An LLM backend: answers before a time.monotonic() deadline or raises LlmError."""

    model: str

    def analyze(self, text: str, context: Sequence[str] = (), deadline: float | None = None) -> Analysis: ...


def resolve_mode(requested: str, has_key: bool, base_url: str | None) -> tuple[str, str]:
    """(effective mode, why) for a requested mode; unknown modes become auto."""
    requested = (requested or "auto").strip().lower()
    if requested not in MODES:
        eff, why = resolve_mode("auto", has_key, base_url)
        return eff, f"unknown backend {requested[:20]!r}, using auto: {why}"
    if requested != "auto":
        return requested, f"backend {requested} requested"
    if has_key:
        return "llm", "auto: OPENAI_API_KEY is set"
    if base_url:
        return "llm", "auto: base_url set (local server, no key needed)"
    return "offline", "auto: no OPENAI_API_KEY and no base_url"


class CircuitBreaker:
    """Opens after `failures` consecutive failures; after `cooldown_s` lets one trial call through
    (half-open): its success closes the breaker, its failure re-opens it for another cooldown."""

    def __init__(self, failures: int = 3, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = max(1, int(failures))
        self.cooldown_s = max(0.0, float(cooldown_s))
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self._clock() - self._opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at >= self.cooldown_s and not self._trial:
                self._trial = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._count, self._opened_at, self._trial = 0, None, False

    def record_failure(self) -> bool:
        """Count a failure; True when this failure opened (or re-opened) the breaker."""
        with self._lock:
            self._count += 1
            if self._trial or (self._opened_at is None and self._count >= self.failures):
                self._opened_at, self._trial = self._clock(), False
                return True
            return False


class LatestGate:
    """Tickets in arrival order; a result may be published only if no newer one was published."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._published = -1

    def issue(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def try_publish(self, ticket: int) -> bool:
        with self._lock:
            if ticket <= self._published:
                return False
            self._published = ticket
            return True


class AffectPolicy:
    """Answers every utterance with a valid Analysis, never raises for backend failures."""

    def __init__(self, mode: str, llm: DeadlineBackend | None, offline: Backend | None, timeout_s: float = 4.0,
                 breaker: CircuitBreaker | None = None, log: LogFn | None = None) -> None:
        self.mode = mode if mode in ("llm", "offline") else "offline"
        self.llm = llm
        self.offline = offline
        self.timeout_s = max(0.05, float(timeout_s))
        self.breaker = breaker or CircuitBreaker()
        self._log = log or default_log
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm") if llm is not None else None
        self.counts: dict[str, int] = {}

    def close(self, cancel: bool = True) -> None:
        """Stop the LLM workers; cancel=False lets queued calls finish (a policy replaced at run time)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=cancel)

    def log(self, level: str, message: str) -> None:
        self._log(level, redact(message))

    def analyze(self, text: str, context: Sequence[str] = (), tag: str = "") -> Analysis:
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.timeout_s
        where = f"utterance {tag!r}: " if tag else ""
        if self.mode == "llm" and self.llm is not None and self._pool is not None:
            if not self.breaker.allow():
                result = self._fallback(text, "circuit_open", f"{where}LLM circuit breaker open, offline result used")
            else:
                result = self._try_llm(text, context, where, deadline)
        elif self.mode == "llm":
            result = self._fallback(text, "no_llm", f"{where}LLM backend not available, offline result used")
        elif self.offline is not None:
            result = self.offline.analyze(text, context)
        else:
            result = neutral("none:no_offline_model", rationale="offline model not loaded")
        result.latency_ms = (time.perf_counter() - t0) * 1000.0
        key = result.backend.split(":")[0]
        self.counts[key] = self.counts.get(key, 0) + 1
        return result

    def _try_llm(self, text: str, context: Sequence[str], where: str, deadline: float) -> Analysis:
        assert self.llm is not None and self._pool is not None
        future: Future[Analysis] = self._pool.submit(self.llm.analyze, text, list(context), deadline)
        try:
            result = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.add_done_callback(lambda f, w=where: self._late(f, w))
            return self._failed(text, "timeout", f"{where}LLM gave no reply within {self.timeout_s:g} s")
        except LlmError as exc:
            if exc.kind == "timeout":  # the request's own time limit is the budget too
                return self._failed(text, "timeout", f"{where}LLM gave no reply within {self.timeout_s:g} s")
            if exc.kind in REPLY_KINDS:  # the server is up and answering: not a breaker failure
                self.breaker.record_success()
                return self._fallback(text, exc.kind, f"{where}LLM failed ({exc})")
            return self._failed(text, exc.kind, f"{where}LLM failed ({exc})")
        except Exception as exc:  # a bug or an unexpected client error must not stop the node
            return self._failed(text, "error", f"{where}LLM raised {type(exc).__name__}: {exc}")
        self.breaker.record_success()
        if result.problems:
            self.log("warn", f"{where}LLM reply repaired: {'; '.join(result.problems)[:300]}")
        return result

    def _failed(self, text: str, kind: str, message: str) -> Analysis:
        if self.breaker.record_failure():
            message += f"; circuit breaker opened for {self.breaker.cooldown_s:g} s"
        return self._fallback(text, kind, message)

    def _fallback(self, text: str, kind: str, message: str) -> Analysis:
        if self.offline is not None:
            result = self.offline.analyze(text)
            result.backend = f"fallback:{kind}"
            self.log("warn", message)
        else:
            result = neutral(f"none:{kind}", rationale="LLM failed and no offline model")
            self.log("warn", message + " (no offline model: neutral)")
        result.problems = [*result.problems, message]
        return result

    def _late(self, future: Future[Analysis], where: str) -> None:
        state = "an error" if future.exception() is not None else "a reply"
        self.log("info", f"{where}late LLM {state} after the {self.timeout_s:g} s budget discarded")
