# bayesmusr: the two commands in README.md.  Everything installs into .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench tables-check clean

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

bench: $(STAMP)
	$(PY) benchmarks/bench_kt.py

tables-check: $(STAMP)
	$(VENV)/bin/bayesmusr tables check

clean:
	rm -rf $(VENV) demo-output .pytest_cache
