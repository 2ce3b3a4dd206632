# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

.PHONY: install demo test check bench
install: $(VENV)/.installed

demo: install
	$(VENV)/bin/driftline demo

test: install check
	DO_NOT_TRACK=1 $(PY) -m pytest

# The checked contracts (pyproject.toml): lint, strict typing, and the import layers.
check: install
	$(VENV)/bin/ruff check monitor alerts exporters dashboards tests benchmarks examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	DO_NOT_TRACK=1 $(PY) benchmarks/bench_check.py
