# Two commands on a fresh machine (Python 3.11): `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check fix clean schema snapshots postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The report test renders in real headless Chromium (Debian's package). Idempotent: installs only
# when /usr/bin/chromium is missing; needs root (CI runs as root) or sudo.
.PHONY: chromium
chromium:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

demo: $(STAMP)  ## install, then generate synthetic extracts and run the whole pipeline on DuckDB
	$(BIN)/ptp demo

postgres:  ## PostgreSQL on 127.0.0.1:5432 for the tests (idempotent; installs it on a fresh Debian as root)
	@bash scripts/ensure-postgres.sh

test: $(STAMP) postgres chromium  ## install, then lint, type-check and run every test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

schema: $(STAMP)  ## regenerate protocols/schema/protocol.schema.json and the GX expectation list from the model
	$(BIN)/python -m ptp_pipeline.protocol.schema protocols/schema/protocol.schema.json

snapshots: $(STAMP)  ## rewrite tests/golden from the current output; review the diff before committing
	UPDATE_SNAPSHOTS=1 $(BIN)/pytest -q -m golden

check: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

fix: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) .ptp .pytest_cache .mypy_cache
