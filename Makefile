# Everything a fresh clone needs, with only make and Python 3.11, 3.12 or 3.13 on the machine.
# var/ holds the data (the SQLite database, its backups, the generated NIK key): no target
# here deletes it except `make clean-data`, which asks first.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUPPORTED := python3.11 python3.12 python3.13 python3
PY_OK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
PY_VERSION := import sys; print("%d.%d" % sys.version_info[:2])

# The first supported interpreter on the PATH, unless PYTHON=... is given.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,$(SUPPORTED),$(shell $(p) -c '$(PY_OK)' >/dev/null 2>&1 && echo $(p))))
endif
WANT_PY := $(shell $(PYTHON) -c '$(PY_VERSION)' 2>/dev/null)
# A .venv built with another Python (or whose Python is gone) is rebuilt, not reused.
HAVE_PY := $(shell test -e $(BIN)/python -o -L $(BIN)/python && { $(BIN)/python -c '$(PY_VERSION)' 2>/dev/null || echo missing; })
STALE_VENV := $(if $(HAVE_PY),$(filter-out $(WANT_PY),$(HAVE_PY)))

.PHONY: run test bench install lock check clean clean-data venv-stale

run: $(STAMP)
	$(BIN)/python -m bot db upgrade
	$(BIN)/python -m bot run

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml $(if $(STALE_VENV),venv-stale)
	@test -n "$(WANT_PY)" || { echo "No Python 3.11, 3.12 or 3.13 found$(if $(PYTHON), ($(PYTHON) does not run or is another version)): install one, or run make PYTHON=/path/to/python3.x"; exit 1; }
	@$(PYTHON) -c '$(PY_OK)' || { echo "$(PYTHON) is Python $(WANT_PY): this project needs 3.11, 3.12 or 3.13"; exit 1; }
	@if [ -n "$(STALE_VENV)" ]; then echo "$(VENV) was built with Python $(STALE_VENV), not $(WANT_PY) ($(PYTHON)): rebuilding it"; rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

venv-stale:
	@:

# Re-resolve the pinned set from requirements.in (then commit requirements.lock). The lock must
# install on 3.11, 3.12 and 3.13: tests/test_deploy_python.py checks it against the registry.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -r requirements.in
	.venv-lock/bin/python -m pip freeze --exclude-editable > requirements.lock
	rm -rf .venv-lock

# Build products and caches only; never var/ (the data and the key).
clean:
	rm -rf $(VENV) .venv-lock .pytest_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -not -path './var/*' -prune -exec rm -rf {} +

# Deletes the data: the SQLite database, its backups and the generated NIK key. Asks first.
clean-data:
	@echo "This deletes var/: the SQLite database, its backups and the generated NIK key (var/secret.key)."
	@echo "Without the key, NIKs in any other copy of the database cannot be read."
	@printf 'Type "delete var" to confirm: '; read -r answer || answer=; \
	  if [ "$$answer" = "delete var" ]; then rm -rf var && echo "var/ deleted"; else echo "nothing deleted"; exit 1; fi
