# `make demo`: set up, ingest this repository's docs into an embedded Qdrant Edge store
# with the bundled model, and answer a few queries. `make test`: set up, lint, test.
VENV ?= .venv
BIN := $(VENV)/bin
DEMO := --store .polyvec-demo --collection docs

.PHONY: setup demo test lint bench-scifact
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

demo: setup
	$(BIN)/polyvec ingest README.md docs examples $(DEMO)
	$(BIN)/polyvec query "How do I run polyvec against a Qdrant server?" \
		"What does MaxSim compute?" "How are document ids stored?" -k 3 $(DEMO)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src/polyvec adapters plugins
	BIN=$(BIN) bash scripts/lint_imports.sh

test: setup lint
	$(BIN)/python -m pytest -m "not slow"

bench-scifact: setup
	PATH=$(abspath $(BIN)):$$PATH bash benchmarks/scifact_quality.sh
