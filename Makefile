# Corpus -> tokenizer -> shards. Every target runs inside the project's virtual environment.
CONFIG ?= configs/default.yaml
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: install corpus tokenizer shards all demo test lint bench bench-quick

$(VENV)/.installed: pyproject.toml
	python3.11 -m venv $(VENV) 2>/dev/null || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

corpus tokenizer shards all: install
	$(PYTHON) -m pipeline $@ --config $(CONFIG)

demo: install
	$(PYTHON) -m pipeline all --config configs/demo.yaml

test: install
	$(PYTHON) -m pytest

lint: install
	$(VENV)/bin/ruff check pipeline tests bench examples
	$(VENV)/bin/ruff format --check pipeline tests bench examples
	$(VENV)/bin/mypy

# Side-by-side benchmarks in their own environment, so that the peers they compare against
# (datatrove, megatron-core) never enter the pipeline's. BENCH_ARGS passes more options,
# such as BENCH_ARGS="--only load"; `python -m bench.run --help` lists them.
BENCH_VENV ?= .venv-bench
BENCH_PYTHON := $(BENCH_VENV)/bin/python
BENCH_CONFIG ?= bench/livedoor.yaml
BENCH_ARGS ?=

$(BENCH_VENV)/.installed: pyproject.toml
	python3.11 -m venv $(BENCH_VENV) 2>/dev/null || python3 -m venv $(BENCH_VENV)
	$(BENCH_PYTHON) -m pip install --quiet --upgrade pip
	$(BENCH_PYTHON) -m pip install --quiet -e '.[dev,bench]' 'torch==2.13.0'
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_PYTHON) -m bench.run --config $(BENCH_CONFIG) $(BENCH_ARGS)

bench-quick: $(BENCH_VENV)/.installed
	BENCH_QUICK=1 $(BENCH_PYTHON) -m bench.run --config $(BENCH_CONFIG) $(BENCH_ARGS)
