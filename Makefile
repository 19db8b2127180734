# Every target creates its own virtualenv in .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: test relink lint typecheck unit bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]' --config-settings editable_mode=strict
	touch $(STAMP)

# A strict editable install links files, so a file added since the last install needs a re-link.
relink: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e . --config-settings editable_mode=strict

lint: relink
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy reads the installed link tree, where the folders carry their import names (obs.*).
typecheck: relink
	$(BIN)/mypy $$(find -L build/__editable__.*/obs -name '*.py')

unit: relink
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

# `make bench` runs every benchmark; `make bench BENCH=pymongo_overhead` one of them.
bench: relink
	$(BIN)/python -m bench $(BENCH)

demo:
	@echo "obs demo arrives with issue 6"

clean:
	rm -rf $(VENV) build *.egg-info
