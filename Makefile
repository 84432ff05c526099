# Two commands do everything on a fresh machine: `make demo` and `make test` (`make test-all`
# adds the slow tests).
# Both create .venv if missing and install torch's CPU build first, so that the package's
# `torch>=2.4` is already satisfied and pip never pulls a multi-GB CUDA build.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo check test test-all lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Trains a character language model on Python's own documentation for 3 minutes, then samples
# it. Each demo writes a new run directory, so earlier runs are never overwritten.
demo: $(STAMP)
	@out=runs/demo-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/rnnkit train --out $$out && \
	echo "--- a sample from $$out ---" && \
	$(BIN)/rnnkit generate $$out --length 400

# The static checks that both test targets run first.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The everyday run: the static checks and every test not marked slow (about 3 minutes on 2 cores).
test: check
	$(BIN)/python -m pytest -m "not slow"

# Everything, the slow tests (training runs, subprocesses) included: what CI runs.
test-all: check
	$(BIN)/python -m pytest

# A quick side-by-side timing of the cells: the fused kernels, the route rnnkit picks (auto),
# torch's op called by rnnkit (native) and torch.nn (BENCHMARKS.md has the full runs).
bench: $(STAMP)
	$(BIN)/rnnkit bench --shapes 32x100x128x128,1x1000x64x64 --cells lstm,gru,elman_tanh --impls fused,auto,native,torch --repeats 3

lint format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
