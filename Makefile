# Every target creates what it needs; `make test` works on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

## Run every test tier.
test: $(VENV)/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
