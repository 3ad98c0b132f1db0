"""The options of text affect, once: the `text_affect` node's parameters and `affect-text`'s flags.

Run-time changes of the LLM settings (backend, model, base_url, timeout_s, ...) and of context_turns
take effect at the next utterance; the fields that size threads or load the offline model are
start-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from avatar_common.config import param

from semantic_affect.text.llm import LlmBackend, LogFn, api_key, default_log
from semantic_affect.text.policy import MODES, AffectPolicy, Backend, CircuitBreaker, resolve_mode
from semantic_affect.text.schema import REPLY_TOKENS
from semantic_affect.text.structured import MODES as FORMATS

STRUCTURED_OUTPUT = ("auto", *FORMATS)


@dataclass(frozen=True)
class TextAffectConfig:
    backend: str = param("auto", "auto (llm if OPENAI_API_KEY or base_url is set, else offline) | llm | offline",
                         choices=MODES)
    model: str = param("gpt-4o-mini", "LLM model name sent to the OpenAI-compatible server")
    base_url: str = param("", "OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (llama.cpp); '' = OpenAI")
    timeout_s: float = param(4.0, "Budget per utterance for the LLM (s), retries included; after it the "
                                  "offline result is used", low=0.05, high=120.0)
    max_retries: int = param(1, "Retries after a connection error, 429 or 5xx, only if one fits in the budget",
                             low=0, high=10)
    structured_output: str = param(
        "auto", "How the reply is constrained: json_schema (OpenAI, llama-server, vLLM, Ollama), json_object with "
                "the schema (llama-cpp-python), off (prompt only); auto tries them in that order and remembers "
                "what each base_url accepts", choices=STRUCTURED_OUTPUT)
    max_tokens: int = param(REPLY_TOKENS, "Most tokens a reply may use (a full reply needs about 150; stops a "
                                          "model that loops)", low=16, high=8192)
    temperature: float = param(0.0, "LLM sampling temperature", low=0.0, high=2.0)
    context_turns: int = param(3, "How many earlier final utterances go into the LLM prompt as context", low=0,
                               high=50)
    breaker_failures: int = param(3, "Consecutive LLM failures that open the circuit breaker", low=1, high=1000)
    breaker_cooldown_s: float = param(30.0, "Seconds the open breaker sends everything offline before one trial",
                                      low=0.0, high=3600.0)
    offline_model: str = param("", "Offline model: name of a shipped one (minilm-tfidf-spoken-ekman-v2, "
                               "minilm-tfidf-goemotions-ekman-v1: the previous ones) or a .npz/.json stem; '' = the "
                               "default (minilm-tuned-spoken-ekman-v3)", start_only=True)
    workers: int = param(2, "Concurrent analyses (a slow LLM reply does not hold back the next utterance)",
                         low=1, high=16, start_only=True)
    threads: int = param(0, "torch CPU threads (process-wide) for the offline encoder; 0 = leave torch's setting",
                         low=0, high=64, start_only=True)


# Fields whose change means a new LLM client / policy (the offline model and the worker pool stay).
POLICY_FIELDS = frozenset({"backend", "model", "base_url", "timeout_s", "max_retries", "structured_output",
                           "max_tokens", "temperature", "breaker_failures", "breaker_cooldown_s"})


def make_policy(config: TextAffectConfig, offline: Backend | None,
                log: LogFn | None = None) -> tuple[AffectPolicy, str]:
    """The policy `config` asks for, around an already loaded offline backend: (policy, one line saying
    which backend answers and why). A client that cannot be created is logged and leaves offline."""
    log = log or default_log
    base_url = config.base_url.strip() or None
    mode, why = resolve_mode(config.backend, bool(api_key()), base_url)
    llm = None
    if mode == "llm":
        try:
            llm = LlmBackend(model=config.model, base_url=base_url, timeout_s=config.timeout_s,
                             max_retries=config.max_retries, temperature=config.temperature,
                             structured_output=config.structured_output, max_tokens=config.max_tokens, log=log)
        except Exception as exc:  # e.g. an unusable base_url
            log("error", f"cannot create the LLM client ({type(exc).__name__}: {exc}); using offline")
            mode, why = "offline", "LLM client not created"
        if llm is not None and not api_key() and not base_url:
            log("warn", "backend llm with no OPENAI_API_KEY and no base_url: OpenAI will refuse the calls, every "
                        "utterance will get the offline result")
    breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s)
    policy = AffectPolicy(mode, llm, offline, timeout_s=config.timeout_s, breaker=breaker, log=log)
    detail = llm.describe() if llm else f"offline model {getattr(offline, 'model', 'none')}"
    return policy, f"backend {mode} ({why}); {detail}"
