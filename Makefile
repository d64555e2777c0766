# Two commands: `make run` and `make test`. Both create .venv and install the project when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: run test lint format jupyter bench clean-venv

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) runner.py $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

# ruff, configured in pyproject.toml: lint rules and the formatting the code is kept in
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

jupyter: $(STAMP)
	$(PY) -m pip install --quiet -e '.[jupyter]'
	cd notebooks && ../$(VENV)/bin/jupyter lab

bench: $(STAMP)
	$(PY) bench/bench_run.py

clean-venv:
	rm -rf $(VENV)
