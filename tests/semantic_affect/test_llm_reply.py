"""The pure pieces of the LLM reply path: tolerant parsing, the quality check, the structured-output
negotiation and its memory per base URL."""

from __future__ import annotations

import json
import threading

import pytest
from avatar_common.emotion import CANONICAL_LABELS, sanitize
from hypothesis import given, settings
from hypothesis import strategies as st
from semantic_affect.text.quality import assess, informative_text
from semantic_affect.text.schema import InvalidReplyError, parse_reply
from semantic_affect.text.structured import (
    Negotiation,
    forget,
    refuses_format,
    refuses_token_field,
    response_format,
    url_key,
)

GOOD = {"weights": {"happiness": 0.8, "surprise": 0.3}, "valence": 0.6, "arousal": 0.5, "confidence": 0.9,
        "rationale": "sounds delighted"}


@pytest.mark.parametrize(("content", "problem"), [
    (json.dumps(GOOD), None),
    (json.dumps(GOOD).replace("sounds delighted", "sounds\ndelighted\t!"), None),  # raw control characters
    ("```json\n" + json.dumps(GOOD) + "\n```", None),
    (json.dumps(GOOD) + "\n\nI hope this helps! {", "text after the JSON object ignored: 'I hope this helps! {'"),
    ("Here is my rating: " + json.dumps(GOOD), "19 character(s) of text before the JSON object ignored"),
])
def test_tolerated_replies(content, problem):
    parsed = parse_reply(content)
    assert parsed.emotion.weights == {"happiness": 0.8, "surprise": 0.3}
    assert parsed.problems == ([problem] if problem else [])
    assert parsed.emotion.confidence == pytest.approx(0.9 * (0.8 if problem else 1.0))


@pytest.mark.parametrize(("content", "why"), [
    ('{"weights": {"anger": 0.5', "reply is not JSON"),  # truncated: never completed
    ('[{"weights": {"anger": 0.5}}]', "reply is a JSON list, not an object"),  # not silently unwrapped
    ('note: [1, 2] {"weights": {"anger": 0.5}}', "reply is not JSON"),  # prose with JSON punctuation
    ("I think the user is happy.", "reply is not JSON"),
    ('{"weights": {"anger": 0.5}, "rationale": "a\x00b" ', "reply is not JSON"),
])
def test_refused_replies(content, why):
    with pytest.raises(InvalidReplyError, match=why):
        parse_reply(content)


def test_uniform_weights_are_uninformative():
    for value in (0.0, 0.125, 0.5, 1.0, 7.0):  # 7.0 clamps to 1.0 for every label: still uniform
        with pytest.raises(InvalidReplyError) as info:
            parse_reply(json.dumps({**GOOD, "weights": dict.fromkeys(CANONICAL_LABELS, value)}))
        assert info.value.kind == "uninformative"
    # one label standing out is a reading
    assert parse_reply(json.dumps({**GOOD, "weights": {**dict.fromkeys(CANONICAL_LABELS, 0.5), "fear": 0.9}}))


def test_quality_rules():
    assert assess({"neutral": 1.0}, "nothing to see").refuse == ""
    assert assess({"anger": 0.01, "fear": 0.0}, "x").refuse  # spread below 0.02
    garbage = assess({"anger": 0.8}, "}}{")
    assert garbage.refuse == "" and garbage.confidence_factor == 0.5 and "says nothing" in garbage.problems[0]
    assert informative_text("Freude!") and informative_text("喜びです")  # any script
    assert not informative_text("") and not informative_text("a.") and not informative_text("}}{ ab ...!!")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.builds(json.dumps, st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from([*CANONICAL_LABELS, "weights", "valence", "rationale", "joy", "x"]), inner, max_size=6),
    max_leaves=20))))
def test_any_reply_is_refused_or_valid(content):
    try:
        parsed = parse_reply(content)
    except InvalidReplyError:
        return
    e = parsed.emotion
    labels = list(e.weights)
    assert labels and set(labels) <= set(CANONICAL_LABELS)
    assert sanitize(labels, [e.weights[k] for k in labels], e.valence, e.arousal, e.confidence)[1] == []


def test_refuses_format():
    assert refuses_format(500, "Input should be 'text' or 'json_object' loc: body.response_format.type")
    assert refuses_format(400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported")
    assert not refuses_format(500, "internal error")  # an outage, not a format problem
    assert not refuses_format(429, "too many response_format requests")  # rate limits never switch
    renamed = "Unsupported parameter: 'max_tokens' ... Use 'max_completion_tokens' instead."
    assert refuses_token_field(400, renamed, "max_tokens") and not refuses_token_field(500, renamed, "max_tokens")
    assert not refuses_token_field(400, "max_tokens too large", "max_tokens")
    assert response_format("off") is None
    assert response_format("json_object")["type"] == "json_object" and "schema" in response_format("json_object")


def test_negotiation_is_remembered_per_url_and_logged_once():
    url = "http://127.0.0.1:9/v1/"
    forget(url)
    lines: list[str] = []
    log = lambda level, message: lines.append(message)  # noqa: E731
    first, second = Negotiation("auto", url, log), Negotiation("auto", url.rstrip("/"), log)
    assert first.mode == second.mode == "json_schema"
    results = []
    threads = [threading.Thread(target=lambda n=n: results.append(n.refused("json_schema", "HTTP 500")))
               for n in (first, second) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["json_object"] * 8 and len(lines) == 1
    assert Negotiation("auto", url, log).mode == "json_object"
    assert Negotiation("auto", "http://127.0.0.1:10/v1", log).mode == "json_schema"  # another server
    assert first.refused("json_object", "no") == "off" and first.refused("off", "no") is None
    fixed = Negotiation("json_schema", url, log)
    assert fixed.mode == "json_schema" and fixed.refused("json_schema", "no") is None
    forget(url)
    assert first.mode == "json_schema" and url_key(None) == "https://api.openai.com/v1"
