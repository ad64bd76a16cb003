# bayesmusr: the two commands in README.md.  Everything installs into .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench docs tables-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

## make demo: set up and run the main job on the embedded default data
demo: $(STAMP)
	$(VENV)/bin/bayesmusr demo --out demo-output

## make test: set up and run the test suite (slow tests excluded)
test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

## make test-slow: only the long statistical / convergence tests
test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

## make bench: timing scripts (results written to benchmarks/results/)
bench: $(STAMP)
	$(PY) benchmarks/bench_kt.py
	$(PY) benchmarks/bench_ea.py

## make docs: build the documentation site (mkdocs-material, strict: broken links fail) into build/site
docs: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	$(PY) -m mkdocs build --strict

tables-check: $(STAMP)
	$(VENV)/bin/bayesmusr tables check

clean:
	rm -rf $(VENV) demo-output .pytest_cache
