# Every target builds .venv from nothing when pyproject.toml is newer than it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv test lint typecheck unit demo bench bench-smoke soak clean

$(VENV)/.stamp: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.bench-stamp: $(VENV)/.stamp
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

venv: $(VENV)/.stamp

lint: venv
	$(BIN)/ruff check bridge adapters mappings state tests bench
	$(BIN)/mypy

test: venv lint
	$(BIN)/pytest

demo: venv
	$(BIN)/zybridge demo

bench: $(VENV)/.bench-stamp
	$(BIN)/python -m bench.sandbox_intake
	$(BIN)/python -m bench.audit_overhead

bench-smoke: $(VENV)/.bench-stamp
	$(BIN)/python -m bench.sandbox_intake --smoke
	$(BIN)/python -m bench.audit_overhead --smoke

soak: venv
	ZYB_SOAK=1 $(BIN)/pytest -s -o timeout=3600 tests/system/test_state_machine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
