# Everything a newcomer (and CI) needs, from a fresh machine with Python >= 3.10 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Two cores on the project's machines: two test processes.
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-image lint typecheck pytest bench clean lab test-browser

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

# Build real images from exported contexts and run them (tests/image). Starts dockerd when it is not
# running (installing docker.io from Debian if needed) and makes the python:X.Y-slim base image locally
# when it is missing (no registry is reachable; cached afterwards). Without an engine the tests skip
# with the reason and this target fails.
test-image: install
	scripts/docker-up.sh && scripts/base-image.sh || echo "test-image: no container engine or base image (see above)"
	AISETL_REQUIRE_ENGINE=1 $(BIN)/pytest tests/image -n 0 -q

# wrk (load), nginx (stand-in AIS target and direct-put destination) and curl come from Debian.
bench: install
	command -v wrk >/dev/null && command -v nginx >/dev/null && command -v curl >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light curl)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# JupyterLab 4 (and Notebook 7 at /tree) on 127.0.0.1 with the notebooks; `make lab LAB_ARGS=--no-browser` on a server.
lab: install
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks $(LAB_ARGS)

# The widget in a real browser: Debian's chromium and chromedriver (never a downloaded browser) drive
# JupyterLab 4 and Notebook 7 headless on 127.0.0.1. Not part of `make test` (it takes a minute or two).
test-browser: install
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
	$(BIN)/python -m pip install --quiet -e '.[browser]'
	AISETL_BROWSER_TESTS=1 $(BIN)/pytest tests/browser -n 0 -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
