# The README's commands.  `make demo` and `make test` install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Re-install Python packages only when the package metadata changes.
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: setup demo test bench docs clean local-up local-down

setup: $(STAMP)
	$(PY) -m connectors.toolchain install

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip wheel setuptools
	$(PY) -m pip install -q -e '.[flink,kcl,dev,video]'
	rm -f $(VENV)/.installed-* && touch $@

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
