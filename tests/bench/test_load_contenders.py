"""Tests of the loading contenders: each yields ``[32, 512]`` batches of the reference ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.load_contenders import CONTENDERS, MemmapBatches, batch_ids, data_dir_for
from bench.prepare import Inputs
from bench.tokenize_contenders import REFERENCE_IDS, REFERENCE_LENGTHS

BATCHES = 3
BLOCK = 32 * 512


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[Inputs, Path, np.ndarray]:
    """Inputs with reference ids ``0, 1, 2, ...`` (mod 8000) for three batches plus a remainder, in two documents."""
    ids = (np.arange(BATCHES * BLOCK + 100) % 8000).astype(np.uint16)
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    ids.tofile(reference_dir / REFERENCE_IDS)
    np.save(reference_dir / REFERENCE_LENGTHS, np.array([BLOCK + 7, len(ids) - BLOCK - 7], dtype=np.int64))
    inputs = Inputs(
        workdir=tmp_path,
        config_path=tmp_path / "unused.yaml",
        sources=["livedoor"],
        files=[],
        tokenizer_path=tmp_path / "unused.json",
        vocab_size=8000,
        documents=2,
        text_bytes=0,
        repeat=1,
        cores=2,
        tokens=len(ids),
    )
    return inputs, reference_dir, ids


def load_first_batch(name: str, inputs: Inputs, reference_dir: Path, run_dir: Path) -> tuple[torch.Tensor, int]:
    contender = CONTENDERS[name]
    data_dir = data_dir_for(inputs, name)
    data_dir.mkdir(parents=True)
    contender.prepare(inputs, reference_dir, data_dir)
    run_dir.mkdir()
    batches = [batch_ids(batch, contender.key) for batch in contender.build(inputs, data_dir, run_dir)]
    return batches[0], len(batches)


def test_memmap_batches_item_is_block(tmp_path: Path) -> None:
    ids = np.arange(2 * 4 * 8, dtype=np.uint16)
    ids.tofile(tmp_path / "ids.bin")
    dataset = MemmapBatches(tmp_path / "ids.bin", dtype=np.dtype(np.uint16), batch_size=4, seq_len=8)
    assert torch.equal(dataset[1], torch.arange(32, 64).reshape(4, 8))


def test_memmap_batches_drops_partial_block(tmp_path: Path) -> None:
    np.arange(2 * 4 * 8 + 5, dtype=np.uint16).tofile(tmp_path / "ids.bin")
    dataset = MemmapBatches(tmp_path / "ids.bin", dtype=np.dtype(np.uint16), batch_size=4, seq_len=8)
    assert len(dataset) == 2


def test_memmap_loader_batches(synthetic: tuple[Inputs, Path, np.ndarray], tmp_path: Path) -> None:
    inputs, reference_dir, ids = synthetic
    first, count = load_first_batch("bare memmap slice", inputs, reference_dir, tmp_path / "run")
    assert count == BATCHES
    assert torch.equal(first, torch.from_numpy(ids[:BLOCK].astype(np.int64)).reshape(32, 512))


def test_datasets_loader_batches(synthetic: tuple[Inputs, Path, np.ndarray], tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    inputs, reference_dir, ids = synthetic
    first, count = load_first_batch("datasets with_format(torch)", inputs, reference_dir, tmp_path / "run")
    assert count == BATCHES
    assert torch.equal(first.long(), torch.from_numpy(ids[:BLOCK].astype(np.int64)).reshape(32, 512))


def test_datatrove_loader_batches(synthetic: tuple[Inputs, Path, np.ndarray], tmp_path: Path) -> None:
    pytest.importorskip("datatrove")
    inputs, reference_dir, ids = synthetic
    first, _ = load_first_batch("datatrove DatatroveFolderDataset", inputs, reference_dir, tmp_path / "run")
    assert torch.equal(first, torch.from_numpy(ids[:BLOCK].astype(np.int64)).reshape(32, 512))


def test_megatron_loader_batch_shape(synthetic: tuple[Inputs, Path, np.ndarray], tmp_path: Path) -> None:
    pytest.importorskip("megatron.core")
    inputs, reference_dir, _ = synthetic
    inputs = _with_tokenizer(inputs, tmp_path)
    first, _ = load_first_batch("megatron GPTDataset", inputs, reference_dir, tmp_path / "run")
    assert first.shape == (32, 512)


def test_pipeline_loader_rows(demo_inputs: Inputs, tmp_path: Path) -> None:
    # The demo corpus fills fewer than 32 rows, so the one batch contains every row.
    first, count = load_first_batch(
        "pipeline ShardDataset", demo_inputs, demo_inputs.workdir / "reference", tmp_path / "run"
    )
    assert count == 1
    assert first.shape[1] == 512


def _with_tokenizer(inputs: Inputs, folder: Path) -> Inputs:
    import dataclasses

    from pipeline.tokenizer import train

    tokenizer = train(iter([["a b c"]]), vocab_size=300, min_frequency=1)
    path = folder / "tokenizer.json"
    tokenizer.save(str(path))
    return dataclasses.replace(inputs, tokenizer_path=path)
