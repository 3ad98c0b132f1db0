"""Test-wide set-up: an isolated ROS domain for this run, and the `ros` harness fixture."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports rclpy: keep DDS traffic on this machine and on a domain id of this run.
# Ids 1-100 only: above 101 the DDS ports fall into Linux's ephemeral range, where tests bind UDP ports.
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("OPENAI_API_KEY", None)  # tests that need a key set their own

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
VENV_BIN = Path(sys.executable).parent


def _register_helper_modules() -> None:
    """Make `import ros_harness`, `import speech_synth`, ... work without putting folders on sys.path.

    Helper modules are the non-test .py files in tests/ and its package folders. tests/ on sys.path
    would let the folders tests/<package> shadow the installed packages.
    """
    here = Path(__file__).parent
    for path in sorted([*here.glob("*.py"), *here.glob("*/*.py")]):
        if path.name.startswith(("test_", "conftest")) or path.stem in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)


_register_helper_modules()


@pytest.fixture
def ros() -> Iterator[object]:
    """A RosHarness: own rclpy context on this run's domain, executor, tester node."""
    from ros_harness import RosHarness

    harness = RosHarness()
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for child processes that must join this run's ROS domain."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def dataset(name: str) -> Path:
    """Path of a shared data set, or skip the test with a clear reason when it is absent."""
    path = DATASETS / name
    if not path.exists():
        pytest.skip(f"data set {name} not found at {path} (see ../shared/datasets/README.md)")
    return path
