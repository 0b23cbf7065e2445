# storyfence: `make demo` runs a guarded story on the bundled example monorepo; `make check` runs every check.
# Both install what they need on a fresh machine: a Python venv (.venv) and the Node tools (pnpm, then
# turbo and TypeScript for examples/) from the npm registry, and headless Chromium (Debian's package, for the
# report's browser tests) when it is missing and we are root on a Debian-like machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_BIN := $(CURDIR)/tools/node/node_modules/.bin
export PATH := $(CURDIR)/$(BIN):$(NODE_BIN):$(PATH)
export TURBO_TELEMETRY_DISABLED := 1

.PHONY: setup chromium demo check lint types test bench clean

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

chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation; \
	else \
		echo "headless Chromium is missing and this is not root: the report's browser tests will be skipped" \
			"(sudo apt-get install chromium)"; \
	fi

setup: $(VENV)/.installed examples/node_modules/.installed chromium

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
