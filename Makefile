# Everything a newcomer (and CI) needs, from a fresh machine with Python >= 3.10 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Two cores on the project's machines: two test processes.
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,notebook]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m aisetl demo

lint: install
	$(BIN)/ruff format --check aisetl tests benchmarks
	$(BIN)/ruff check aisetl tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

test: lint typecheck pytest

# wrk (load), nginx (stand-in AIS target and direct-put destination) and curl come from Debian.
bench: install
	command -v wrk >/dev/null && command -v nginx >/dev/null && command -v curl >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light curl)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
