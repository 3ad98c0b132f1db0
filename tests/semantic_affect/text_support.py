"""Shared pieces of the text-affect tests: one loaded offline backend per test process."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def offline_backend() -> object:
    """The shipped offline model, loaded once (seconds) and shared by every test module."""
    from semantic_affect.text.offline import OfflineBackend

    return OfflineBackend.load()
