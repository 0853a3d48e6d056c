# Every target builds .venv from nothing when the lock file or pyproject.toml is newer than
# it. The runtime and `dev` dependencies come from requirements/dev.lock, every file checked
# against its sha256 (`make lock` writes it from pyproject.toml); the project itself is
# installed on top without resolving anything.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.lock
LOCK_VENV := .lock-venv

.PHONY: venv lock test lint typecheck unit demo bench bench-full bench-smoke soak mutate \
	mutate-smoke clean

$(VENV)/.stamp: $(LOCK) pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# the bench extra (dlt and its tree) is not locked: it goes on top of the locked set
$(VENV)/.bench-stamp: $(VENV)/.stamp
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

$(VENV)/.mutate-stamp: $(VENV)/.stamp
	$(BIN)/pip install --quiet -e '.[dev,mutate]'
	touch $@

venv: $(VENV)/.stamp

# after a change to the dependencies in pyproject.toml: pins every runtime and `dev`
# package (and pip, setuptools, wheel, which build the project) with their hashes
lock:
	$(PY) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet 'pip-tools>=7.5'
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --extra dev --strip-extras \
		--allow-unsafe --all-build-deps --no-emit-index-url --no-emit-find-links \
		--output-file $(LOCK) pyproject.toml

lint: venv
	$(BIN)/ruff check bridge adapters mappings state tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# every test, on TEST_JOBS pytest-xdist workers; a file's tests stay on one worker (its
# module fixtures are built once) and tests/conftest.py sends the longest files first.
# Four workers on two cores: the sandbox, database and zybridge processes the tests wait
# on leave a core idle otherwise (docs/testing.md). TEST_JOBS=0 runs them one by one.
TEST_JOBS ?= 4
test: venv lint
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

demo: venv
	$(BIN)/zybridge demo

# scenarios 1, 3, 4 at N=50,000 and scenario 2 at its own N (bench/backfill.py); several minutes
bench: $(VENV)/.bench-stamp
	$(BIN)/python -m bench.backfill --json var/bench/results.json
	$(BIN)/python -m bench.sandbox_intake
	$(BIN)/python -m bench.audit_overhead

# the figures for the docs: scenario 1 at 100,000 and 200,000 volunteers (1,000,000 service
# records; peak RSS at N and 2N), scenario 3 over the 100,000 store
bench-full: $(VENV)/.bench-stamp
	$(BIN)/python -m bench.backfill --n 100000 --scenario 1 --scenario 3 --rss-growth \
		--json var/bench/full-results.json

# CI (.ci/run): every scenario at 200 volunteers, counts checked, no timing; < 60 s
bench-smoke: $(VENV)/.bench-stamp
	$(BIN)/python -m bench.backfill --smoke
	$(BIN)/python -m bench.sandbox_intake --smoke
	$(BIN)/python -m bench.audit_overhead --smoke

soak: venv
	ZYB_SOAK=1 $(BIN)/pytest -s -o timeout=3600 tests/system/test_state_machine.py \
		tests/system/test_federation_machine.py

# mutation testing (docs/testing.md; [tool.mutmut] in pyproject.toml names the modules):
# mutmut 3 with the unit and contract tests over the functions issue 21 names; long on 2
# shared cores. MUTANTS takes other mutant-name globs ('*' for every function of the
# modules), e.g. make mutate MUTANTS='bridge.safety.*'
MUTANTS ?= 'mappings.checks.x_gb*' 'mappings.checks.x_id_*' 'mappings.checks.x_uscc*' \
	'bridge.safety.x_*' 'state.audit.x_entry_hash*' 'state.audit.xǁRecordǁholds*' \
	'state.audit.xǁChainWalkǁstep*' 'state.audit.x_check__*' 'state.audit.x_verify*' \
	'state.audit.x__start_problem*' 'bridge.stage.xǁStagerǁplan*' \
	'bridge.push.xǁPusherǁ_persist*' 'bridge.push.xǁPusherǁ_submit*' 'bridge.push.xǁ_Claimsǁ*' \
	'adapters.sql.x_lookback_start*' 'adapters.sql.x__trusted*' 'adapters.sql.x__after*' \
	'adapters.sql.x__stamp*' 'adapters.sql.xǁSqlSourceǁread_changes*' \
	'adapters.sql.xǁSqlSourceǁ_changes_sql*' 'mappings.normalize.x_*' 'mappings.spans.x_*'
MUTATE_JOBS ?= 2
mutate: $(VENV)/.mutate-stamp
	nice -n 10 $(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTANTS)
	$(BIN)/mutmut results

# the check-character functions only: a few minutes (not part of CI)
mutate-smoke: $(VENV)/.mutate-stamp
	nice -n 10 $(BIN)/mutmut run --max-children $(MUTATE_JOBS) 'mappings.checks.x_gb*'
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) $(LOCK_VENV) .pytest_cache .mypy_cache .ruff_cache mutants
