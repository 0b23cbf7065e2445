# storyfence: `make demo` runs a guarded story on the bundled example monorepo; `make check` runs every check.
# Both install what they need on a fresh machine: a Python venv (.venv) and the Node tools (pnpm, then
# turbo and TypeScript for examples/) from the npm registry.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_BIN := $(CURDIR)/tools/node/node_modules/.bin
export PATH := $(CURDIR)/$(BIN):$(NODE_BIN):$(PATH)
export TURBO_TELEMETRY_DISABLED := 1

.PHONY: setup demo check lint types test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --prefer-binary -e '.[dev]'
	touch $@

tools/node/node_modules/.installed: tools/node/package.json tools/node/package-lock.json
	npm ci --prefix tools/node --no-audit --no-fund --loglevel=error
	touch $@

examples/node_modules/.installed: examples/package.json examples/pnpm-lock.yaml tools/node/node_modules/.installed
	cd examples && pnpm install --frozen-lockfile --reporter=silent
	touch $@

setup: $(VENV)/.installed examples/node_modules/.installed

demo: setup
	$(BIN)/storyfence demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: setup
	$(BIN)/pyright

test: setup
	$(BIN)/pytest -q

check: lint types test

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) tools/node/node_modules examples/node_modules
