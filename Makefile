# Corpus -> tokenizer -> shards. Every target runs inside the project's virtual environment.
CONFIG ?= configs/default.yaml
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: install corpus tokenizer shards all demo test lint

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
