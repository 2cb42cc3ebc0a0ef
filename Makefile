# Every target creates what it needs; `make test` works on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# checkov pins an old boto3, so it lives in a virtual environment of its own.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30

# An offline AWS provider mirror is optional: without one, terraform takes the provider from the public
# registry. Only the targets that run terraform look for one, in named places: TAPCTL_PLUGIN_DIR, then
# the first of these folders that holds registry.terraform.io/hashicorp/aws (terraform's own implied
# mirror folders, then /opt/tf-plugins, where CI images tend to bake one in).
PROVIDER_MIRRORS ?= $(HOME)/.terraform.d/plugins $(HOME)/.local/share/terraform/plugins \
	/usr/local/share/terraform/plugins /usr/share/terraform/plugins /opt/tf-plugins
MIRROR_FROM_ENVIRONMENT := $(TAPCTL_PLUGIN_DIR)
provider_mirror = $(or $(MIRROR_FROM_ENVIRONMENT),$(patsubst %/registry.terraform.io/hashicorp/aws,%,$(firstword \
	$(wildcard $(addsuffix /registry.terraform.io/hashicorp/aws,$(PROVIDER_MIRRORS))))))
TERRAFORM_TARGETS := test test-terraform demo demo-down bench bench-deploy bench-pipeline fuzz load plan
$(TERRAFORM_TARGETS): export TAPCTL_PLUGIN_DIR = $(provider_mirror)

.PHONY: test test-unit test-terraform package plan demo demo-down bench bench-deploy bench-pipeline fuzz load clean
ENV ?= $(ENVIRONMENT_SUFFIX)

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ echo "tapctl needs Python >= 3.11: $(PYTHON) is $$($(PYTHON) --version 2>&1); run make PYTHON=python3.11 ..." >&2; exit 2; }
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

## The main job on the embedded default: deploy to the local target, smoke-test, show, tear down.
## DEMO_KEEP=1 keeps it running (then: make demo-down).
DEMO_ENV ?= demo
demo: $(VENV)/.installed
	@echo "AWS provider: $(or $(TAPCTL_PLUGIN_DIR),the public registry (no mirror found))" >&2
	$(VENV)/bin/tapctl deploy --env $(DEMO_ENV) --target local --auto-approve --smoke
	$(VENV)/bin/tapctl local send --env $(DEMO_ENV) --count 2
	$(VENV)/bin/tapctl local queues --env $(DEMO_ENV)
	@if [ -z "$(DEMO_KEEP)" ]; then $(VENV)/bin/tapctl destroy --env $(DEMO_ENV) --target local --auto-approve; \
	else echo "still running: tapctl output --env $(DEMO_ENV) --target local; make demo-down to stop"; fi

demo-down: $(VENV)/.installed
	$(VENV)/bin/tapctl destroy --env $(DEMO_ENV) --target local --auto-approve

## Benchmarks: handlers (cold start, AWS calls, CPU per event), packaging, CLI start; then the local deploy.
bench: $(VENV)/.installed
	$(PY) bench/handlers.py
	$(PY) bench/local_deploy.py
	$(PY) bench/local_pipeline.py

## Benchmark events/s and latency through the local pipeline against the emulator's own floor.
bench-pipeline: $(VENV)/.installed
	$(PY) bench/local_pipeline.py

## Benchmark the local target: full deploy, no-op update, destroy, against the one-queue floor.
bench-deploy: $(VENV)/.installed
	$(PY) bench/local_deploy.py

## The reliability tier at full size: a million hostile bodies; 20 000 events through the local pipeline.
fuzz: $(VENV)/.installed
	RELIABILITY_FUZZ_COUNT=1000000 $(PY) -m pytest --timeout=3600 -rP tests/reliability/test_bad_input.py

load: $(VENV)/.installed
	RELIABILITY_LOAD_COUNT=20000 $(PY) -m pytest --timeout=3600 -rP tests/reliability/test_nothing_lost.py -k load

## Build the Lambda zips into build/.
package: $(VENV)/.installed
	$(VENV)/bin/tapctl package

## Save a reviewable plan of ENV to build/ENV.tfplan (for CI review: keep it as an artifact).
plan: $(VENV)/.installed
	@test -n "$(ENV)" || { echo "usage: make plan ENV=<environment>" >&2; exit 2; }
	$(VENV)/bin/tapctl plan --env $(ENV) --out build/$(ENV).tfplan --summary md --summary-file build/$(ENV).plan.md

## Build outputs and virtual environments only: never .tapctl/, which holds environments' terraform state.
clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build .pytest_cache .hypothesis
