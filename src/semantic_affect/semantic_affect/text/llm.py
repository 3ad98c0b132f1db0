"""LLM backend on the `openai` client: any OpenAI-compatible server (OpenAI, Ollama, llama.cpp, vLLM).

The API key is read only from the OPENAI_API_KEY environment variable; it never enters a log line,
an exception text we raise or a published message (`redact`, `SecretFilter`). Failures are raised as
`LlmError(kind, detail)` with kinds timeout | rate_limit | http_<status> | connection | refusal |
invalid_reply | uninformative, which the policy turns into an offline fallback.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from semantic_affect.text.analysis import Analysis
from semantic_affect.text.prompt import build_messages
from semantic_affect.text.schema import REPLY_TOKENS, InvalidReplyError, parse_reply
from semantic_affect.text.structured import (
    Negotiation,
    refuses_format,
    refuses_token_field,
    response_format,
    url_key,
)

API_KEY_ENV = "OPENAI_API_KEY"
NO_KEY = "no-key"  # local servers accept any key; the client needs a non-empty one
MIN_ATTEMPT_S = 0.05  # no request is started with less of the budget left than this
BACKOFF_S = 0.2  # first retry wait when the server names none; doubles per retry
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})  # what the openai client itself retries
LogFn = Callable[[str, str], None]  # (level: "info"|"warn"|"error", message)


class LlmError(RuntimeError):
    """One failed LLM request or analysis; `kind` is a short machine-readable reason.

    `status` is the HTTP status (0 when there was none), `retry_after` the wait the server asked
    for, `format_refused` / `token_field_refused` whether the error says the server does not take
    our response_format / the name of our token limit.
    """

    def __init__(self, kind: str, detail: str = "", status: int = 0, retry_after: float | None = None,
                 format_refused: bool = False, token_field_refused: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        self.format_refused = format_refused
        self.token_field_refused = token_field_refused


def default_log(level: str, message: str) -> None:
    logging.getLogger("semantic_affect.text").log(
        {"info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}.get(level, logging.INFO),
        "%s", message)


def api_key() -> str:
    return os.environ.get(API_KEY_ENV, "").strip()


def redact(text: object, secrets: Sequence[str] | None = None) -> str:
    """`text` with the API key (and any other secret given) replaced by ***."""
    out = str(text)
    for s in (secrets if secrets is not None else [api_key()]):
        if s and len(s) >= 4:
            out = out.replace(s, "***")
    return out


class SecretFilter(logging.Filter):
    """Logging filter that redacts the API key from every record passing through a handler/logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        key = api_key()
        if key and len(key) >= 4:
            msg = record.getMessage()
            if key in msg:
                record.msg, record.args = redact(msg, [key]), None
        return True


class LlmBackend:
    """Structured-output chat completion for one utterance with its conversation context.

    Every request carries the token limit (`max_tokens`, or `max_completion_tokens` for a server
    that asks for it). The request's time limit is what is left of the utterance's
    budget, and a retry (connection error, 408/409/429/5xx) starts only if it can still finish in
    it: its wait (Retry-After or backoff) plus the time a reply from this server usually takes. A
    server that refuses the response format is negotiated down (see `structured`), within the
    same budget and without counting as a retry.
    """

    name = "llm"

    def __init__(self, model: str = "gpt-4o-mini", base_url: str | None = None, timeout_s: float = 4.0,
                 max_retries: int = 1, temperature: float = 0.0, structured_output: str = "auto",
                 max_tokens: int = REPLY_TOKENS, log: LogFn | None = None) -> None:
        from openai import OpenAI

        self.model = model
        self.base_url = base_url or None
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.has_key = bool(api_key())
        self._log = log or default_log
        self.negotiation = Negotiation(structured_output, self.base_url, self._log)
        # Retries are ours (they must fit the budget), so the client makes none of its own.
        self._client = OpenAI(api_key=api_key() or NO_KEY, base_url=self.base_url, timeout=self.timeout_s,
                              max_retries=0)
        self._lock = threading.Lock()
        self._typical_s: float | None = None  # running mean of successful request times

    def describe(self) -> str:
        """For logs: never includes the key."""
        return f"model={self.model} base_url={url_key(self.base_url)} timeout_s={self.timeout_s:g} " \
               f"max_retries={self.max_retries} max_tokens={self.max_tokens} " \
               f"structured_output={self.negotiation.requested} key={'set' if self.has_key else 'none'}"

    def analyze(self, text: str, context: Sequence[str] = (), deadline: float | None = None) -> Analysis:
        """One analysis before `deadline` (time.monotonic(); default now + timeout_s).

        Raises LlmError on any failure; never returns an unvalidated result.
        """
        t0 = time.monotonic()
        deadline = t0 + self.timeout_s if deadline is None else deadline
        messages = build_messages(text, context)
        retries, renamed = 0, False
        while True:
            mode, token_field = self.negotiation.mode, self.negotiation.token_field
            remaining = deadline - time.monotonic()
            if remaining < MIN_ATTEMPT_S:
                raise LlmError("timeout", f"budget of {deadline - t0:.2g} s spent")
            started = time.monotonic()
            try:
                completion = self._create(messages, mode, token_field, remaining)
            except LlmError as exc:
                if exc.format_refused:  # the same request would be refused again: change it or give up
                    if self.negotiation.refused(mode, exc.detail) is None:
                        raise
                    continue
                if exc.token_field_refused and not renamed:  # once: a server refusing both names is broken
                    self.negotiation.token_field_refused(token_field, exc.detail)
                    renamed = True
                    continue
                wait = self._retry_wait(exc, retries, deadline, time.monotonic() - started)
                if wait is None:
                    raise
                retries += 1
                self._log("info", f"LLM {exc.kind}, retry {retries} of {self.max_retries} in {wait:.2f} s "
                                  f"({deadline - time.monotonic() - wait:.2f} s of the budget left)")
                time.sleep(wait)
                continue
            self._observe(time.monotonic() - started)
            return self._analysis(completion, (time.monotonic() - t0) * 1000.0)

    def _create(self, messages: list[dict[str, str]], mode: str, token_field: str, timeout: float) -> Any:
        import openai

        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                                  token_field: self.max_tokens, "timeout": timeout}
        fmt = response_format(mode)
        if fmt is not None:
            kwargs["response_format"] = fmt
        try:
            return self._client.chat.completions.create(**kwargs)
        except openai.APITimeoutError:
            raise LlmError("timeout", f"no reply within {timeout:.2g} s") from None
        except openai.APIStatusError as exc:
            kind = "rate_limit" if exc.status_code == 429 else f"http_{exc.status_code}"
            raise LlmError(kind, _short(exc), status=exc.status_code, retry_after=_retry_after(exc.response),
                           format_refused=fmt is not None and refuses_format(exc.status_code, str(exc)),
                           token_field_refused=refuses_token_field(exc.status_code, str(exc), token_field)) from None
        except openai.APIConnectionError as exc:
            raise LlmError("connection", _short(exc)) from None
        except openai.OpenAIError as exc:  # response validation, etc.
            raise LlmError("client_error", _short(exc)) from None

    def _retry_wait(self, exc: LlmError, retries: int, deadline: float, took_s: float) -> float | None:
        """Seconds to wait before a retry, or None when no retry is due or none can finish in time."""
        retryable = exc.kind in ("connection", "timeout") or exc.status in RETRY_STATUS
        if not retryable or retries >= self.max_retries:
            return None
        wait = exc.retry_after if exc.retry_after is not None else BACKOFF_S * 2 ** retries
        with self._lock:
            typical = self._typical_s
        # A server that answered with an error after working on the request may take as long again.
        needed = max(MIN_ATTEMPT_S, typical or 0.0, took_s if exc.status else 0.0)
        return wait if time.monotonic() + wait + needed <= deadline else None

    def _observe(self, seconds: float) -> None:
        with self._lock:
            self._typical_s = seconds if self._typical_s is None else 0.7 * self._typical_s + 0.3 * seconds

    def _analysis(self, completion: Any, latency_ms: float) -> Analysis:
        try:
            choice = completion.choices[0]
            message = choice.message
        except (AttributeError, IndexError, TypeError):
            raise LlmError("invalid_reply", "no choices in completion") from None
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise LlmError("refusal", " ".join(str(refusal).split())[:120])
        try:
            parsed = parse_reply(message.content)
        except InvalidReplyError as exc:
            detail = redact(exc)[:200]
            if getattr(choice, "finish_reason", None) == "length":
                detail = f"reply cut off at max_tokens={self.max_tokens}: {detail}"
            raise LlmError(exc.kind, detail) from None
        model = getattr(completion, "model", None) or self.model
        return Analysis(parsed.emotion, "llm", str(model), redact(parsed.rationale), latency_ms, parsed.problems)


def _retry_after(response: Any) -> float | None:
    """Seconds the server asks us to wait (retry-after-ms or retry-after in seconds), if it says."""
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name, ""))
        except (TypeError, ValueError):
            continue
        if math.isfinite(value) and value >= 0:
            return value * scale
    return None


def _short(exc: BaseException) -> str:
    return redact(" ".join(str(exc).split()))[:160]
