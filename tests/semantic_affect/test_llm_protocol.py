"""How the LLM client meets real servers, against the loopback server: structured-output negotiation
(remembered per base URL, logged once), max_tokens on every request, retries only inside the
utterance's budget, replies that real servers emit (control characters, trailing text), and
well-formed replies that say nothing."""

from __future__ import annotations

import json
import logging
import time

import pytest
from avatar_common.emotion import CANONICAL_LABELS
from llm_server import LoopbackLLM, Reply, affect_json, llama_cpp_python_refusal
from semantic_affect.text.llm import LlmBackend, LlmError
from semantic_affect.text.policy import AffectPolicy, CircuitBreaker
from semantic_affect.text.schema import json_schema
from text_support import offline_backend

BUDGET = 3.0  # generous: a valid loopback reply must never time out on a busy machine
SWITCH = "refuses response_format"



def make_policy(server, budget=BUDGET, **llm_kwargs):
    llm_kwargs.setdefault("max_retries", 0)
    llm = LlmBackend(model="loopback-model", base_url=server.base_url, timeout_s=budget, **llm_kwargs)
    return AffectPolicy("llm", llm, offline_backend(), timeout_s=budget, breaker=CircuitBreaker(100, 60.0))


def formats(server, match):
    return [(r["body"].get("response_format") or {}).get("type", "none") for r in server.requests_for(match)]


def all_weights(value):
    return dict.fromkeys(CANONICAL_LABELS, value)


def reply(weights, rationale="sounds pleased", **extra):
    return json.dumps({"weights": weights, "valence": 0.5, "arousal": 0.3, "confidence": 0.9,
                       "rationale": rationale, **extra})


# -- structured-output negotiation -----------------------------------------------------------------
def test_auto_negotiates_json_object_with_a_llama_cpp_python_server(server, caplog):
    server.refuse["json_schema"] = llama_cpp_python_refusal()
    server.default = Reply(affect_json(happiness=0.8))
    policy = make_policy(server)
    with caplog.at_level(logging.INFO):
        results = [policy.analyze(f"neg-{i} what a lovely day", tag=f"neg-{i}") for i in range(3)]
        later = make_policy(server)  # a client made later (e.g. after a model change) for the same server
        results.append(later.analyze("neg-3 again"))
    assert [r.backend for r in results] == ["llm"] * 4
    assert formats(server, "neg-0") == ["json_schema", "json_object"]  # one refusal, then the schema as json_object
    assert [formats(server, f"neg-{i}") for i in (1, 2, 3)] == [["json_object"]] * 3
    sent = server.requests_for("neg-1")[0]["body"]["response_format"]
    assert sent == {"type": "json_object", "schema": json_schema()}
    assert caplog.text.count(SWITCH) == 1
    assert f"{server.base_url} refuses response_format json_schema" in caplog.text
    assert "using json_object for this server from now on" in caplog.text
    assert policy.llm.negotiation.mode == "json_object"
    policy.close()
    later.close()


def test_auto_falls_back_to_prompt_only_json(server, caplog):
    server.refuse["json_schema"] = llama_cpp_python_refusal()
    server.refuse["json_object"] = Reply(status=400, raw_body=json.dumps(
        {"error": {"message": "response_format json_object is not supported"}}))
    server.default = Reply("Sure! " + affect_json(sadness=0.6) + "\nHope this helps.")
    policy = make_policy(server)
    with caplog.at_level(logging.INFO):
        first = policy.analyze("off-0 I miss her")
        second = policy.analyze("off-1 I miss him")
    assert first.backend == second.backend == "llm" and first.emotion.weights == {"sadness": 0.6}
    assert formats(server, "off-0") == ["json_schema", "json_object", "none"]
    assert formats(server, "off-1") == ["none"]
    assert caplog.text.count(SWITCH) == 2  # json_schema -> json_object, json_object -> off
    assert "text after the JSON object ignored: 'Hope this helps.'" in caplog.text
    policy.close()


def test_fixed_mode_is_not_negotiated(server, caplog):
    server.refuse["json_schema"] = llama_cpp_python_refusal()
    policy = make_policy(server, structured_output="json_schema", max_retries=2)
    with caplog.at_level(logging.INFO):
        result = policy.analyze("fixed-0 hello")
    assert result.backend == "fallback:http_500"
    # neither switched nor retried: the same request would be refused again
    assert formats(server, "fixed-0") == ["json_schema"] and SWITCH not in caplog.text
    policy.close()
    off = make_policy(server, structured_output="off")
    assert off.analyze("fixed-1 hello").backend == "llm" and formats(server, "fixed-1") == ["none"]
    off.close()


# -- max_tokens -------------------------------------------------------------------------------------
def test_every_request_carries_max_tokens(server):
    server.refuse["json_schema"] = llama_cpp_python_refusal()
    policy = make_policy(server, max_tokens=96)
    policy.analyze("tok-0 fine")
    policy.analyze("tok-1 fine")
    assert [r["body"]["max_tokens"] for r in server.requests] == [96, 96, 96]
    policy.close()


def test_reply_cut_off_at_max_tokens_is_named(server, caplog):
    server.script("cut", Reply('{"weights": {"anger": 0.9, "rationale": "the user is very very very',
                               finish_reason="length"))
    policy = make_policy(server)
    with caplog.at_level(logging.INFO):
        result = policy.analyze("cut off")
    assert result.backend == "fallback:invalid_reply"
    assert f"reply cut off at max_tokens={policy.llm.max_tokens}" in caplog.text
    policy.close()


def test_token_limit_renamed_for_a_server_that_asks(server, caplog):
    """OpenAI's reasoning models refuse max_tokens (HTTP 400) and name max_completion_tokens."""
    message = ("Unsupported parameter: 'max_tokens' is not supported with this model. "
               "Use 'max_completion_tokens' instead.")
    refusal = Reply(status=400, raw_body=json.dumps({"error": {"message": message, "type": "invalid_request_error",
                                                               "param": "max_tokens"}}))
    server.refusal_for = lambda body: refusal if "max_tokens" in body else None
    policy = make_policy(server, max_retries=2)
    with caplog.at_level(logging.INFO):
        results = [policy.analyze(f"name-{i} fine") for i in range(2)]
    assert [r.backend for r in results] == ["llm", "llm"]
    limits = [{k: v for k, v in r["body"].items() if "tokens" in k} for r in server.requests]
    assert limits == [{"max_tokens": 256}, {"max_completion_tokens": 256}, {"max_completion_tokens": 256}]
    assert caplog.text.count("refuses max_tokens") == 1
    policy.close()


# -- retries inside the budget ----------------------------------------------------------------------
def test_retry_that_fits_is_made(server, caplog):
    calls = {"n": 0}
    original = server.reply_for

    def flaky(utterance):
        calls["n"] += 1
        return Reply(status=503, headers={"retry-after-ms": "50"}) if calls["n"] == 1 else original(utterance)

    server.reply_for = flaky
    policy = make_policy(server, max_retries=2)
    with caplog.at_level(logging.INFO):
        result = policy.analyze("retry-fits")
    assert result.backend == "llm" and calls["n"] == 2
    assert "LLM http_503, retry 1 of 2 in 0.05 s" in caplog.text
    policy.close()


def test_no_retry_after_the_budget_is_spent(server):
    """A request that timed out used the whole budget: it is not sent again (the openai client's own
    retries would have doubled the server's load). Timed on the backend alone: the offline fallback
    adds its own latency, which is not the LLM's budget."""
    server.script("spent", Reply(affect_json(anger=0.9), delay=BUDGET + 1.5))
    llm = LlmBackend(model="m", base_url=server.base_url, timeout_s=BUDGET, max_retries=3)
    t0 = time.monotonic()
    with pytest.raises(LlmError) as info:
        llm.analyze("spent budget")
    assert info.value.kind == "timeout" and time.monotonic() - t0 < BUDGET + 0.5
    time.sleep(BUDGET)  # a retry, if any, would arrive now
    assert len(server.requests_for("spent")) == 1


@pytest.mark.parametrize(("case", "reply", "kind"), [
    ("slow-error", Reply(status=503, delay=1.8), "http_503"),  # a retry would take about as long: 3.6 s > 3 s
    ("wait-long", Reply(status=429, headers={"retry-after": "5"}), "rate_limit"),  # asks for more than is left
])
def test_retry_that_cannot_finish_is_not_started(server, case, reply, kind):
    server.script(case, reply)
    llm = LlmBackend(model="m", base_url=server.base_url, timeout_s=BUDGET, max_retries=3)
    t0 = time.monotonic()
    with pytest.raises(LlmError) as info:
        llm.analyze(f"{case} now")
    elapsed = time.monotonic() - t0
    assert info.value.kind == kind and len(server.requests_for(case)) == 1
    assert elapsed < BUDGET, elapsed  # the failure is reported as soon as no retry can help


def test_connection_refused_retries_then_falls_back(caplog):
    dead = LoopbackLLM().start()
    url = dead.base_url
    dead.stop()  # nothing listens on the port any more
    llm = LlmBackend(model="m", base_url=url, timeout_s=BUDGET, max_retries=2)
    policy = AffectPolicy("llm", llm, offline_backend(), timeout_s=BUDGET)
    with caplog.at_level(logging.INFO):
        t0 = time.monotonic()
        result = policy.analyze("anyone there?")
    assert result.backend == "fallback:connection" and time.monotonic() - t0 < BUDGET + 1.0  # + offline result
    assert "LLM connection, retry 1 of 2" in caplog.text and "retry 2 of 2" in caplog.text
    policy.close()


# -- what real servers emit --------------------------------------------------------------------------
def test_raw_control_characters_in_strings_are_accepted(server):
    content = '{"weights": {"happiness": 0.7, "neutral": 0.1}, "valence": 0.6, "arousal": 0.4, ' \
              '"confidence": 0.8, "rationale": "The user\nsounds\tglad"}'
    server.script("ctrl", Reply(content))
    policy = make_policy(server)
    result = policy.analyze("ctrl chars")
    assert result.backend == "llm" and result.emotion.weights == {"neutral": 0.1, "happiness": 0.7}
    assert result.rationale == "The user sounds glad" and result.problems == []  # nothing lost, nothing to report
    policy.close()


def test_trailing_text_is_ignored_and_reported(server):
    server.script("trail", Reply(reply({"anger": 0.8}, "they are angry") + "}}\n<|im_end|> extra"))
    policy = make_policy(server)
    result = policy.analyze("trail text")
    assert result.backend == "llm" and result.emotion.weights == {"anger": 0.8}
    assert any("text after the JSON object ignored" in p for p in result.problems)
    assert result.emotion.confidence == pytest.approx(0.9 * 0.8)  # a repaired reply counts for less
    policy.close()


# -- replies that say nothing ------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "weights"), [("uniform-half", all_weights(0.5)), ("uniform-zero", all_weights(0.0)),
                                               ("uniform-eighth", all_weights(0.125))])
def test_uniform_weights_fall_back(server, caplog, case, weights):
    server.script(case, Reply(reply(weights)))
    policy = make_policy(server)
    with caplog.at_level(logging.INFO):
        result = policy.analyze(f"{case} hmm", tag=case)
    assert result.backend == "fallback:uninformative" and result.model == offline_backend().model
    assert f"utterance '{case}': LLM failed (uninformative: uninformative reply: every emotion weighted" in caplog.text
    policy.close()


@pytest.mark.parametrize("rationale", ["", "}}{", "...", "  "])
def test_empty_or_garbage_rationale_halves_confidence(server, caplog, rationale):
    weights = {**all_weights(0.0), "happiness": 0.8}
    server.script("good-why", Reply(reply(weights)))
    server.script("bad-why", Reply(reply(weights, rationale)))
    policy = make_policy(server)
    with caplog.at_level(logging.INFO):
        good = policy.analyze("good-why yay")
        bad = policy.analyze("bad-why yay")
    assert good.backend == bad.backend == "llm" and bad.emotion.weights == good.emotion.weights
    assert good.emotion.confidence == pytest.approx(0.9)
    assert bad.emotion.confidence == pytest.approx(0.45)
    assert "says nothing: confidence halved" in caplog.text
    policy.close()


def test_unusable_replies_do_not_open_the_breaker(server):
    """The breaker guards against a server that is down; one that answers badly falls back per reply."""
    server.default = Reply(json.dumps({"weights": dict.fromkeys(CANONICAL_LABELS, 1.0)}))
    llm = LlmBackend(model="m", base_url=server.base_url, timeout_s=BUDGET, max_retries=0)
    policy = AffectPolicy("llm", llm, offline_backend(), timeout_s=BUDGET, breaker=CircuitBreaker(2, 60.0))
    results = [policy.analyze(f"bad-{i}") for i in range(4)]
    assert [r.backend for r in results] == ["fallback:uninformative"] * 4 and len(server.requests) == 4
    assert policy.breaker.state == "closed"
    policy.close()
