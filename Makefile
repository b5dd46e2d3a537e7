# Two commands set everything up: `make lab` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.percept-installed
NB_TIMEOUT ?= 600

.PHONY: env lab test test-unit test-notebooks run student bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -e '.[notebooks,test]'
	touch $(STAMP)

env: $(STAMP)

lab: env
	$(VENV)/bin/jupyter lab notebooks/

# The whole suite: unit, parity, bad-input tests and the notebooks (papermill + nbval).
test: env
	$(PY) -m pytest

test-unit: env
	$(PY) -m pytest -m "not notebooks"

test-notebooks: env
	$(PY) -m pytest -m notebooks

# Execute every notebook headless (fast mode unless FAST=0) into build/executed/.
FAST ?= 1
run: env
	$(PY) -m percept_lib.classroom run --out build/executed --fast $(FAST)

student: env
	$(PY) -m percept_lib.classroom student --out build/student

bench: env
	$(PY) benchmarks/fid.py
	$(PY) benchmarks/losses.py

clean:
	rm -rf build .pytest_cache
