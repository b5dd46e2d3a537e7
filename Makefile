# Two commands set everything up: `make lab` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.percept-installed
NB_TIMEOUT ?= 600

.PHONY: env lab test test-unit test-notebooks test-nbval test-browser site run student bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -e '.[notebooks,test]'
	touch $(STAMP)

env: $(STAMP)

lab: env
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

# The whole suite: unit, parity, bad-input tests and each notebook executed once (papermill, fast mode,
# random weights: no pretrained file can be downloaded in CI). `make test-nbval`: the stored defaults, nbval.
test: env
	$(PY) -m pytest

test-nbval: env
	@if ls notebooks/[0-9][0-9]_*.ipynb >/dev/null 2>&1; then \
	  PERCEPT_FAST=1 PERCEPT_WEIGHTS=random $(PY) -m pytest --nbval-lax -p no:cacheprovider \
	    --nbval-cell-timeout=$(NB_TIMEOUT) notebooks; \
	else echo "no notebooks yet"; fi

test-unit: env
	$(PY) -m pytest -m "not notebooks and not browser"

test-notebooks: env
	$(PY) -m pytest -m notebooks

# Execute every notebook headless (fast mode unless FAST=0) into build/executed/.
FAST ?= 1
run: env
	$(PY) -m percept_lib.teaching run --out build/executed --fast $(FAST)

student: env
	$(PY) -m percept_lib.teaching student --out build/student

# JupyterLab in headless Chromium (Debian's chromium; .ci/run installs it when absent).
test-browser: env
	$(PY) -m pip install --quiet -e '.[notebooks,test,browser]'
	$(PY) -m pytest -m browser tests/browser -p no:cacheprovider

site: env
	$(PY) -m percept_lib.teaching.site --out build/site $(if $(filter 0,$(FAST)),--full,) $(if $(filter 1,$(INSTRUCTOR)),--instructor,)

bench: env
	for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build .pytest_cache
