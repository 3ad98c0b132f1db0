"""`affect-text` takes the node's LLM options as flags (one config dataclass) and uses them."""

from __future__ import annotations

import json

import pytest
from llm_server import Reply, affect_json, llama_cpp_python_refusal
from semantic_affect.affect_text_cli import main


def test_llm_flags_reach_the_server(server, capsys):
    server.refuse["json_schema"] = llama_cpp_python_refusal()
    server.default = Reply(affect_json(happiness=0.7))
    assert main(["--base-url", server.base_url, "--model", "m1", "--timeout-s", "5", "--max-tokens", "64",
                 "--temperature", "0.3", "I passed!"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["backend"] == "llm" and row["weights_by_label"] == {"happiness": 0.7}
    bodies = [r["body"] for r in server.requests]
    assert [(b.get("response_format") or {}).get("type") for b in bodies] == ["json_schema", "json_object"]
    assert {(b["model"], b["max_tokens"], b["temperature"]) for b in bodies} == {("m1", 64, 0.3)}


def test_fixed_structured_output_flag(server, capsys):
    assert main(["--base-url", server.base_url, "--structured-output", "off", "hello"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "llm"
    assert "response_format" not in server.requests[0]["body"]


@pytest.mark.parametrize(("args", "message"), [
    (["--timeout-s", "500", "x"], "timeout_s: 500.0 is above the maximum 120"),
    (["--max-tokens", "2", "x"], "max_tokens: 2 is below the minimum 16"),
    (["--structured-output", "xml", "x"], "invalid choice: 'xml'"),
])
def test_bad_flags_are_one_line_and_status_2(capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and err[-1].startswith("affect-text: error: ") and message in err[-1]
