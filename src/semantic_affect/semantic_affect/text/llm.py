"""LLM backend on the `openai` client: any OpenAI-compatible server (OpenAI, Ollama, llama.cpp, vLLM).

The API key is read only from the OPENAI_API_KEY environment variable; it never enters a log line,
an exception text we raise or a published message (`redact`, `SecretFilter`). Failures are raised as
`LlmError(kind, detail)` with kinds timeout | rate_limit | http_<status> | connection | refusal |
invalid_reply, which the policy turns into an offline fallback.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

from semantic_affect.text.analysis import Analysis
from semantic_affect.text.prompt import build_messages
from semantic_affect.text.schema import InvalidReplyError, parse_reply, response_format

log = logging.getLogger(__name__)

API_KEY_ENV = "OPENAI_API_KEY"
NO_KEY = "no-key"  # local servers accept any key; the client needs a non-empty one


class LlmError(RuntimeError):
    """One failed LLM analysis; `kind` is a short machine-readable reason."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


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
    """Structured-output chat completion for one utterance with its conversation context."""

    name = "llm"

    def __init__(self, model: str = "gpt-4o-mini", base_url: str | None = None, timeout_s: float = 4.0,
                 max_retries: int = 1, temperature: float = 0.0, structured: bool = True) -> None:
        from openai import OpenAI

        self.model = model
        self.base_url = base_url or None
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.temperature = float(temperature)
        self.structured = structured
        self.has_key = bool(api_key())
        self._client = OpenAI(api_key=api_key() or NO_KEY, base_url=self.base_url, timeout=self.timeout_s,
                              max_retries=self.max_retries)

    def describe(self) -> str:
        """For logs: never includes the key."""
        return f"model={self.model} base_url={self.base_url or 'https://api.openai.com/v1'} " \
               f"timeout_s={self.timeout_s:g} max_retries={self.max_retries} key={'set' if self.has_key else 'none'}"

    def analyze(self, text: str, context: Sequence[str] = ()) -> Analysis:
        """One analysis; raises LlmError on any failure (never returns an unvalidated result)."""
        import openai

        t0 = time.perf_counter()
        kwargs: dict[str, object] = {"model": self.model, "messages": build_messages(text, context),
                                     "temperature": self.temperature}
        if self.structured:
            kwargs["response_format"] = response_format()
        try:
            completion = self._client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
        except openai.APITimeoutError:
            raise LlmError("timeout", f"no reply within {self.timeout_s:g} s") from None
        except openai.RateLimitError as exc:
            raise LlmError("rate_limit", f"HTTP 429 {_short(exc)}") from None
        except openai.APIStatusError as exc:
            raise LlmError(f"http_{exc.status_code}", _short(exc)) from None
        except openai.APIConnectionError as exc:
            raise LlmError("connection", _short(exc)) from None
        except openai.OpenAIError as exc:  # response validation, etc.
            raise LlmError("client_error", _short(exc)) from None
        latency = (time.perf_counter() - t0) * 1000.0
        try:
            message = completion.choices[0].message
        except (AttributeError, IndexError, TypeError):
            raise LlmError("invalid_reply", "no choices in completion") from None
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise LlmError("refusal", " ".join(str(refusal).split())[:120])
        try:
            parsed = parse_reply(message.content)
        except InvalidReplyError as exc:
            raise LlmError("invalid_reply", redact(exc)[:200]) from None
        model = getattr(completion, "model", None) or self.model
        return Analysis(parsed.emotion, "llm", str(model), redact(parsed.rationale), latency, parsed.problems)


def _short(exc: BaseException) -> str:
    return redact(" ".join(str(exc).split()))[:160]
