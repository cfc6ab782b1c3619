# The two commands of the README, and the steps they are made of.
# `make run` installs everything and runs the main job; `make test` installs
# everything and runs the tests. Every other target is a step of those two.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run down test unit test-long install stack-up stack-down lint typecheck bench scale clean

run: install
	$(BIN)/eventcart up

down: install
	$(BIN)/eventcart down

test: install stack-up
	$(BIN)/pytest -m "not benchmark and not long" --durations=25 tests

# The pure tests alone: no service, a few seconds.
unit: install
	$(BIN)/pytest tests/unit

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "eventcart needs Python 3.11 ($(PYTHON) not found)"; exit 1; }
	@# kcat is only for the README's "other languages" example and its test.
	@command -v kcat >/dev/null || [ "$$(id -u)" != 0 ] || apt-get install -y -q kcat >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q kcat >/dev/null; } \
		|| echo "kcat not installed: its example test will be skipped"
	@# docker-compose (Debian's 1.29) only validates docker-compose.yml in its test: no engine runs here.
	@command -v docker-compose >/dev/null || [ "$$(id -u)" != 0 ] || apt-get install -y -q docker-compose >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q docker-compose >/dev/null; } \
		|| echo "docker-compose not installed: its validation of docker-compose.yml will be skipped"
	@# Debian's chromium, driven by Playwright in the web console's browser tests
	@# (Playwright's own browser download is never used).
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || apt-get install -y -q chromium >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
		|| echo "chromium not installed: the console's browser tests will be skipped"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

stack-up: install
	$(BIN)/eventcart stack up

stack-down: install
	$(BIN)/eventcart stack down

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test-long: install stack-up
	$(BIN)/pytest -m "long and not benchmark" -s tests

bench: install stack-up
	$(BIN)/pytest -m "benchmark and not long" -s tests/benchmarks

# 10,000,000 events over 1,000,000 products: load, rebuild, verify (about an hour).
scale: install stack-up
	$(BIN)/pytest -m long -s tests/benchmarks/test_scale.py

clean:
	rm -rf $(VENV) build *.egg-info
