# Relayman: `make run` serves on port $(PORT); `make test` runs lint and the whole suite (with a
# slice of the fuzzing); `make test-unit` only the in-process tests, in seconds; `make fuzz` the
# fuzzing at full scale. Each builds .venv/ from scratch when it is missing or the locks changed:
# every package, transitive ones included, is installed at the version and hashes the locks name.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 4000
JS := tests/js

.PHONY: run run-cluster test test-unit fuzz lint format venv lock js-deps browser wrk clean bench bench-quick

run: $(VENV)/.runtime
	PYTHON=$(BIN)/python PORT=$(PORT) bin/serve

# Redis (port 6380) and two nodes (4001, 4002) sharing it: README, "Scaling out".
run-cluster: $(VENV)/.runtime
	PYTHON=$(BIN)/python bin/run-cluster

test: $(VENV)/.dev js-deps browser wrk
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest
	cd $(JS) && npm test --silent

test-unit: $(VENV)/.dev
	$(BIN)/pytest -m unit

# 10,000 generated requests and 10,000 generated frames through one real server each, and the
# in-process properties at 1,000 examples; FUZZ_SEED=<seed> replays a run it printed.
FUZZ_SCALE := FUZZ_REQUESTS=10000 FUZZ_FRAMES=10000 FUZZ_EXAMPLES=1000
fuzz: $(VENV)/.dev
	$(FUZZ_SCALE) $(BIN)/pytest --timeout=1200 -s \
		tests/test_fuzz_http.py tests/test_fuzz_sockets.py tests/test_events_fuzz.py

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

venv: $(VENV)/.dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.lock | $(VENV)/bin/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	touch $@

$(VENV)/.dev: requirements.lock requirements-dev.lock | $(VENV)/bin/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	touch $@ $(VENV)/.runtime

# The locks, from the pins in requirements*.txt (edit those, then `make lock`): every transitive
# package with its hashes, by pip-tools in a throwaway environment.
PIP_TOOLS := pip-tools==7.6.2
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	--no-emit-find-links
lock:
	tools=$$(mktemp -d) && $(PYTHON) -m venv $$tools \
	&& $$tools/bin/pip install --quiet $(PIP_TOOLS) \
	&& $$tools/bin/pip-compile $(LOCK_FLAGS) -o requirements.lock requirements.txt \
	&& $$tools/bin/pip-compile $(LOCK_FLAGS) -o requirements-dev.lock requirements-dev.txt \
	; status=$$?; rm -rf $$tools; exit $$status

# The benchmark (bench/): every figure as a ratio to a hand-written floor, from one run.
# `bench` (< 15 min) writes bench/results/latest.{md,json,png}; `bench-quick` (< 3 min) writes
# bench/results/quick/.
bench: $(VENV)/.bench wrk
	$(BIN)/python -m bench

bench-quick: $(VENV)/.bench wrk
	$(BIN)/python -m bench --quick --out bench/results/quick

$(VENV)/.bench: bench/requirements.txt $(VENV)/.dev
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

js-deps: $(JS)/node_modules/.installed

$(JS)/node_modules/.installed: $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund
	touch $@

# The benchmark's ingest references post with wrk (a load generator in C); Debian's package,
# installed when missing.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "Installing Debian's wrk for the benchmark"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

# The browser test needs Chromium; Debian's package, installed when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) $(JS)/node_modules .pytest_cache .ruff_cache .hypothesis
