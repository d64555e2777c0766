# Two commands: `make run` and `make test`. Both create .venv and install the project when needed, at the
# exact versions of requirements.lock (`make lock` refreshes it from pyproject.toml).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed-stamp
DEV    := $(VENV)/.dev-stamp
LOCK   := requirements.lock
ARGS   ?=
# The lock's target: the machines the project runs on (CPython 3.11, Linux x86_64)
LOCK_FOR := --python-version 3.11 --python-platform x86_64-manylinux_2_28

.PHONY: run test lint format lock dev jupyter bench mutants clean-venv

# uv (from PyPI) installs the lock in seconds; where uv cannot be had, pip installs the same lock.
# --compile-bytecode: uv writes no .pyc by default and leaves it to the first import, which never writes one where
# PYTHONDONTWRITEBYTECODE is set (many CI images and containers set it): every runner, kernel and test process would
# then compile pandas, scikit-learn and matplotlib from source again, about 6 s of CPU each. pip compiles by default.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet uv || echo "note: uv unavailable; installing with pip"
	if test -x $(UV); then \
	  $(UV) pip install --quiet --compile-bytecode --python $(PY) -r $(LOCK) && $(UV) pip install --quiet --python $(PY) --no-deps -e . ; \
	else \
	  $(PY) -m pip install --quiet -r $(LOCK) && $(PY) -m pip install --quiet --no-deps -e . ; \
	fi
	rm -f $(DEV)
	touch $(STAMP)

run: $(STAMP)
	$(PY) runner.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

# ruff, configured in pyproject.toml: lint rules and the formatting the code is kept in; import-linter: the
# package's layers ([tool.importlinter] in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Re-resolve pyproject.toml's dependencies to their newest allowed versions and pin them in the lock.
lock: $(STAMP)
	$(UV) pip compile pyproject.toml --extra test $(LOCK_FOR) --upgrade --quiet -o $(LOCK)

# For analysts: JupyterLab (at versions the lock allows) and nbstripout as this clone's git filter, so a
# notebook saved with outputs is committed without them. Installed once.
$(DEV): $(STAMP)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -c $(LOCK) -e '.[jupyter]' || $(PY) -m pip install --quiet -c $(LOCK) -e '.[jupyter]'
	$(VENV)/bin/nbstripout --install
	touch $(DEV)

dev: $(DEV)

jupyter: $(DEV)
	cd notebooks && ../$(VENV)/bin/jupyter lab

bench: $(STAMP)
	$(PY) bench/bench_run.py

# The mutation audit of the promises (bench/mutants.py): each planted bug must be caught by the tests PROMISES.md
# names for it. Long (minutes per mutant): on demand or weekly, never part of `make test`. ARGS="--only ID" for one.
mutants: $(STAMP)
	$(PY) bench/mutants.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
