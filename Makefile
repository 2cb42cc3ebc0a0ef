# Every target creates what it needs; `make test` works on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# checkov pins an old boto3, so it lives in a virtual environment of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30

# The offline AWS provider mirror: its parent folder is terraform's -plugin-dir.
TAPCTL_PLUGIN_DIR ?= $(shell dirname "$$(find / -maxdepth 4 -type d -name registry.terraform.io -not -path '*/.terraform/*' 2>/dev/null | head -n 1)" 2>/dev/null | grep -v '^\.$$')
export TAPCTL_PLUGIN_DIR

.PHONY: test test-unit test-terraform package plan clean
ENV ?= $(ENVIRONMENT_SUFFIX)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

## Run every test tier (unit, functional, terraform).
test: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m pytest

## Only the tiers without terraform.
test-unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit tests/functional

## Only the terraform tier: fmt, validate, terraform test, checkov.
test-terraform: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m pytest tests/terraform

## Build the Lambda zips into build/.
package: $(VENV)/.installed
	$(VENV)/bin/tapctl package

## Save a reviewable plan of ENV to build/ENV.tfplan (for CI review: keep it as an artifact).
plan: $(VENV)/.installed
	@test -n "$(ENV)" || { echo "usage: make plan ENV=<environment>" >&2; exit 2; }
	$(VENV)/bin/tapctl plan --env $(ENV) --out build/$(ENV).tfplan

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build .pytest_cache .hypothesis
