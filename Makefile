# Trama — two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint format bench bench-peers lock clean

$(STAMP): requirements.lock pyproject.toml app/assets.lock.json
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Trama needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m app.assets install
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/trama migrate
	$(BIN)/trama seed --if-empty
	@echo ""
	@echo "  GraphiQL:  http://$${TRAMA_HOST:-127.0.0.1}:$${TRAMA_PORT:-8000}/graphql  (opens with a demo agent's token)"
	@echo "  A token:   $(BIN)/trama token --role agent --partner BANCO_ANDINO"
	@echo "             $(BIN)/trama token --role admin"
	@echo ""
	$(BIN)/trama serve

# PYTEST_PREFIX runs the suite under a wrapper, e.g. the machine's clock elsewhere:
#   make test PYTEST_PREFIX="datefudge '2028-02-29 02:00:00 UTC'"
# One test process more than the cores, at most 6: a good share of the suite waits on
# PostgreSQL, on servers it started and on workers' deliveries, and the extra process keeps
# the cores busy meanwhile (TEST_WORKERS=N to choose).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(len(os.sched_getaffinity(0)) + 1, 6))')

test: $(STAMP)
	$(PYTEST_PREFIX) $(BIN)/pytest -q -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app schema resolvers domain workers
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format app schema resolvers domain workers

bench: $(STAMP)
	$(BIN)/python -m bench.customers_list

# The peers of bench/read_mix.py: Node 22 (the `node` package), PostGraphile v5 and
# autocannon from the npm registry into bench/peers/node_modules, as package-lock.json pins
# them; nothing global. Needs npm (with any Node) to start.
bench-peers:
	@command -v npm >/dev/null || { echo "bench-peers needs npm (apt-get install npm)"; exit 1; }
	cd bench/peers && npm ci --no-audit --no-fund
	bench/peers/node_modules/.bin/node --version

# Re-pin every dependency (needs network); commit the result.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
