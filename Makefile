# The README's commands.  `make demo` and `make test` install what they need first.
SHELL := /bin/bash
# Managed Flink's FLINK-2_2 runtime runs Python 3.12: the venv and the packaged wheels use 3.12 too.
PYTHON ?= $(shell for c in python3.12 "env PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -m1 '^3\.12')" \
                    ; do py="$$c"; [ "$$c" = python3.12 ] || py="$$c python3.12"; \
                    $$py -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo "$$py"; break; }; \
                  done)
VENV := .venv
PY := $(VENV)/bin/python
# Re-install Python packages only when the package metadata changes.
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)-py3.12
PYTEST_ARGS ?=
# The suite mostly waits on clusters, emulators and paced producers (a third of 2 cores busy, run serially),
# so two workers nearly halve it.  Each test module is one unit of work (tests/conftest.py), handed out in
# collection order, which starts with the long e2e modules.  TEST_WORKERS=0 runs it serially.
TEST_WORKERS ?= 2

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
	@test -n "$(PYTHON)" || { echo "setup needs Python 3.12 (the Managed Flink 2.2 runtime's): install python3.12"; exit 1; }
	@echo "setup: virtualenv $(VENV) ($$($(PYTHON) --version 2>&1))"
	@# A venv of another Python (an older checkout's 3.11) is rebuilt: the packaged wheels must match 3.12.
	@$(call step,virtualenv,$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); })
	@echo "setup: shardline and its extras ($(EXTRAS)) with pip"
	@$(call step,pip,$(PY) -m pip install -q -U pip wheel setuptools && $(PY) -m pip install -q -e '.[$(EXTRAS)]')
	@rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(VENV)/bin/shardline demo

test: setup
	$(VENV)/bin/pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --no-loadscope-reorder) $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/shardline bench producer

docs: setup
	$(PY) -m jobs.packaging.config_docs

local-up: setup
	$(VENV)/bin/shardline local up

local-down:
	$(VENV)/bin/shardline local down

clean:
	rm -rf $(VENV) .shardline build *.egg-info
