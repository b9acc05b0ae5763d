# The README's commands.  `make demo` and `make test` install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Re-install Python packages only when the package metadata changes.
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: setup demo test bench docs clean local-up local-down

# One line per step; pip's and Maven's chatter goes to the log, whose end is shown if a step fails.
SETUP_LOG := .shardline/setup.log
EXTRAS := flink,kcl,dev,video
step = ( $(2) ) >> $(SETUP_LOG) 2>&1 || { echo "setup failed: $(1); the end of $(SETUP_LOG):"; tail -40 $(SETUP_LOG); exit 1; }

setup: $(STAMP)
	@echo "setup: npm emulators and the Flink connector jar"
	@$(call step,toolchain,$(PY) -m connectors.toolchain install)
	@echo "setup: ready (log: $(SETUP_LOG))"

$(STAMP): setup.cfg pyproject.toml
	@mkdir -p .shardline && : > $(SETUP_LOG)
	@echo "setup: virtualenv $(VENV) ($$($(PYTHON) --version 2>&1))"
	@$(call step,virtualenv,test -x $(PY) || $(PYTHON) -m venv $(VENV))
	@echo "setup: shardline and its extras ($(EXTRAS)) with pip"
	@$(call step,pip,$(PY) -m pip install -q -U pip wheel setuptools && $(PY) -m pip install -q -e '.[$(EXTRAS)]')
	@rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(VENV)/bin/shardline demo

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/shardline bench producer

docs: setup
	$(PY) -m jobs.config_docs

local-up: setup
	$(VENV)/bin/shardline local up

local-down:
	$(VENV)/bin/shardline local down

clean:
	rm -rf $(VENV) .shardline build *.egg-info
