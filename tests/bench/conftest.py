"""Fixtures for the benchmark tests: a prepared work folder over the bundled demo corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.prepare import Inputs, prepare
from bench.tokenize_contenders import bare_encode_batch, with_tokens
from tests.conftest import DEMO

DEMO_DOCUMENTS = 9
"""Documents in ``demo/``: six Livedoor articles and three WikiText articles."""


def write_demo_config(folder: Path) -> Path:
    """Write a benchmark config over the demo corpus with absolute paths and return its path."""
    path = folder / "bench-demo.yaml"
    path.write_text(
        f"sources:\n"
        f"  livedoor: {{path: {DEMO / 'livedoor'}}}\n"
        f"  wikitext: {{path: {DEMO / 'wikitext'}}}\n"
        f"tokenizer: {{vocab_size: 1000, min_frequency: 1}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    """Inputs prepared from the demo corpus with two copies of each document, two files per source,
    and the reference ids written to ``<workdir>/reference``."""
    folder = tmp_path_factory.mktemp("bench")
    inputs = prepare(config_path=write_demo_config(folder), workdir=folder / "work", cores=2, repeat=2)
    reference_dir = inputs.workdir / "reference"
    reference_dir.mkdir()
    bare_encode_batch(inputs, reference_dir)
    inputs = with_tokens(inputs, reference_dir)
    inputs.save()
    return inputs
