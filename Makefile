# Two entry points for a fresh clone: `make repro` (main job) and `make test` (quick tests).
# Each creates the virtual environment .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_STAMP := $(VENV)/.installed-lint

.PHONY: repro test test-all timing lint clean-venv clean-cache llm

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(LINT_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $(LINT_STAMP)

repro: $(STAMP)
	$(PY) -m paper_repro $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -m "not slow" $(ARGS)

test-all: $(STAMP)
	$(PY) -m pytest $(ARGS)

timing: $(STAMP)
	$(PY) -m paper_repro timing $(ARGS)

# Style and errors (ruff), types of the public API (mypy, modules listed in pyproject.toml),
# the one-way layering of the packages (lint-imports).
lint: $(LINT_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean-venv:
	rm -rf $(VENV)

clean-cache:
	find sim algorithms theory_checks figures paper_repro -name __pycache__ -type d -prune -exec rm -rf {} +

# Optional: the LLM feature-extraction extra. torch is installed first, as TORCH names it
# (default: the release whose CPU build this project is tested with; override with your own,
# e.g. make llm TORCH=torch), so that the extra does not pull a multi-GB accelerator build.
TORCH ?= torch==2.13.0
llm: $(STAMP)
	$(PY) -m pip install --quiet '$(TORCH)'
	$(PY) -m pip install --quiet -e '.[test,llm]'
