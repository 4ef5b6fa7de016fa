# Two commands on a fresh machine (Python 3.11): `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check fix clean

# Debian packages: mysqlclient (for apache-airflow-providers-mysql) builds against libmysqlclient with
# pkg-config; the SFTP pull tests start their own OpenSSH sshd on 127.0.0.1. Installed only when missing.
SYSTEM_PKGS := openssh-server pkg-config default-libmysqlclient-dev
.PHONY: system-deps  # runs before every install check: `$(STAMP)` lists it as an order-only prerequisite

system-deps:  ## install the Debian packages above that are missing (idempotent; apt-get update once)
	@missing=$$(for p in $(SYSTEM_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	    echo "Not a Debian system: install the equivalents of: $$missing" >&2; exit 1; fi; \
	sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	echo "Installing Debian packages: $$missing"; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## install, then generate synthetic extracts and run the whole pipeline on DuckDB
	$(BIN)/ptp demo

test: $(STAMP)  ## install, then lint, type-check and run every test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

check: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

fix: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) .ptp .pytest_cache .mypy_cache
