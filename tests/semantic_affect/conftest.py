"""Fixtures of the semantic_affect tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_server import LoopbackLLM
from semantic_affect.text.structured import forget


@pytest.fixture
def server() -> Iterator[LoopbackLLM]:
    """One loopback OpenAI-compatible server per test: fresh rules and request log, and nothing
    remembered about its URL (the structured-output negotiation is per base URL)."""
    s = LoopbackLLM().start()
    forget(s.base_url)
    yield s
    s.stop()
    forget(s.base_url)
