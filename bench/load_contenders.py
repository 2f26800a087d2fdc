"""Contenders of the loading benchmark: token ids on disk to ``[32, 512]`` batches.

Each :class:`LoaderContender` has an untimed ``prepare(inputs, reference_dir, data_dir)`` that
writes its on-disk format into ``data_dir``. Its timed ``build(inputs, data_dir, run_dir)`` opens
that data and returns a ``DataLoader`` with :data:`WORKERS` workers, or a plain iterator for the
in-process ceiling. ``run_dir`` is an empty folder for caches.

Every contender except this pipeline's reads the same ids, the content tokens that the bare
``encode_batch`` reference wrote to ``reference_dir``. The pipeline reads its own shards, whose
rows also carry ``[CLS]``, ``[SEP]``, padding and global masks. Nothing shuffles, so each epoch
reads its data in file order.
"""

from __future__ import annotations

import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import DataLoader, Dataset

from bench.prepare import SEQUENCE_LENGTH, Inputs
from bench.tokenize_contenders import REFERENCE_IDS, REFERENCE_LENGTHS, pipeline_shards
from pipeline.shards.schema import token_dtype
from pipeline.tokenizer import load_tokenizer, special_token_id

BATCH_SIZE = 32
WORKERS = 2


def _reference_ids(inputs: Inputs, reference_dir: Path) -> np.ndarray:
    dtype = token_dtype(inputs.vocab_size)
    return np.fromfile(reference_dir / REFERENCE_IDS, dtype=dtype)


class MemmapBatches(Dataset[torch.Tensor]):
    """Map-style dataset whose item ``i`` is the ``i``-th contiguous ``[batch_size, seq_len]`` block.

    The memory map opens lazily, so each ``DataLoader`` worker maps the file itself.
    """

    def __init__(self, path: Path, *, dtype: np.dtype, batch_size: int, seq_len: int) -> None:
        self.path = path
        self.dtype = dtype
        self.shape = (batch_size, seq_len)
        self.block = batch_size * seq_len
        self._length = path.stat().st_size // dtype.itemsize // self.block
        self._ids: np.memmap | None = None

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._ids is None:
            self._ids = np.memmap(self.path, dtype=self.dtype, mode="r")
        block = self._ids[index * self.block : (index + 1) * self.block]
        return torch.from_numpy(block.astype(np.int64).reshape(self.shape))


class MemmapWindows(Dataset[torch.Tensor]):
    """Map-style dataset whose item ``i`` is the ``i``-th window of ``seq_len`` ids."""

    def __init__(self, path: Path, *, dtype: np.dtype, seq_len: int) -> None:
        self.path = path
        self.dtype = dtype
        self.seq_len = seq_len
        self._length = path.stat().st_size // dtype.itemsize // seq_len
        self._ids: np.memmap | None = None

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> torch.Tensor:
        if self._ids is None:
            self._ids = np.memmap(self.path, dtype=self.dtype, mode="r")
        return torch.from_numpy(self._ids[index * self.seq_len : (index + 1) * self.seq_len].astype(np.int64))


def prepare_memmap(inputs: Inputs, reference_dir: Path, data_dir: Path) -> None:
    shutil.copyfile(reference_dir / REFERENCE_IDS, data_dir / REFERENCE_IDS)


def build_memmap(inputs: Inputs, data_dir: Path, run_dir: Path) -> DataLoader:
    """Build the reference: ``numpy.memmap`` slices of whole batches, one batch per item."""
    path = data_dir / REFERENCE_IDS
    dataset = MemmapBatches(path, dtype=token_dtype(inputs.vocab_size), batch_size=BATCH_SIZE, seq_len=SEQUENCE_LENGTH)
    return DataLoader(dataset, batch_size=None, num_workers=WORKERS)


def build_memmap_in_process(inputs: Inputs, data_dir: Path, run_dir: Path) -> Iterable[torch.Tensor]:
    """Build the ceiling: the same batch slices, read in the training process with no ``DataLoader``."""
    path = data_dir / REFERENCE_IDS
    dataset = MemmapBatches(path, dtype=token_dtype(inputs.vocab_size), batch_size=BATCH_SIZE, seq_len=SEQUENCE_LENGTH)
    return (dataset[index] for index in range(len(dataset)))


def build_memmap_windows(inputs: Inputs, data_dir: Path, run_dir: Path) -> DataLoader:
    """Build one ``numpy.memmap`` window per item, stacked into batches by the ``DataLoader``."""
    dataset = MemmapWindows(data_dir / REFERENCE_IDS, dtype=token_dtype(inputs.vocab_size), seq_len=SEQUENCE_LENGTH)
    return DataLoader(dataset, batch_size=BATCH_SIZE, num_workers=WORKERS)


def prepare_pipeline(inputs: Inputs, reference_dir: Path, data_dir: Path) -> None:
    pipeline_shards(inputs, data_dir)


def build_pipeline(inputs: Inputs, data_dir: Path, run_dir: Path) -> DataLoader:
    """Build this pipeline's ``ShardIterableDataset`` over the training shards; it yields whole batches."""
    from pipeline.data import ShardIterableDataset

    dataset = ShardIterableDataset(data_dir / "shards" / "train", batch_size=BATCH_SIZE, shuffle=False)
    return DataLoader(dataset, batch_size=None, num_workers=WORKERS)


def prepare_datasets(inputs: Inputs, reference_dir: Path, data_dir: Path) -> None:
    """Cut the ids into rows of :data:`SEQUENCE_LENGTH` (``list<int32>``, as ``group_texts`` in
    the Hugging Face examples produces) and ``save_to_disk``."""
    import datasets

    ids = _reference_ids(inputs, reference_dir)
    rows = len(ids) // SEQUENCE_LENGTH
    values = pa.array(ids[: rows * SEQUENCE_LENGTH].astype(np.int32))
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * SEQUENCE_LENGTH)
    table = pa.table({"input_ids": pa.ListArray.from_arrays(offsets, values)})
    datasets.Dataset(table).save_to_disk(str(data_dir / "dataset"))


def build_datasets(inputs: Inputs, data_dir: Path, run_dir: Path) -> DataLoader:
    """Build ``load_from_disk(...).with_format("torch")``, batched by the ``DataLoader``."""
    import datasets

    dataset = datasets.load_from_disk(str(data_dir / "dataset")).with_format("torch")
    return DataLoader(dataset, batch_size=BATCH_SIZE, num_workers=WORKERS)


def prepare_datatrove(inputs: Inputs, reference_dir: Path, data_dir: Path) -> None:
    """Write the ids as one ``.ds`` file with its ``.index`` of document ends, via datatrove's writer."""
    from datatrove.pipeline.tokens.tokenizer import TokenizedFile

    ids = _reference_ids(inputs, reference_dir)
    lengths = np.load(reference_dir / REFERENCE_LENGTHS)
    writer = TokenizedFile(str(data_dir / "tokens"), "ids.ds", token_size=ids.dtype.itemsize)
    writer.write_bytes(ids.tobytes(), doc_ends=np.cumsum(lengths).tolist())
    writer.close()


def build_datatrove(inputs: Inputs, data_dir: Path, run_dir: Path) -> DataLoader:
    """Build datatrove's ``DatatroveFolderDataset`` with ``seq_len=511``.

    Each item contains ``seq_len + 1`` tokens, so that inputs and shifted labels both have ``seq_len``.
    """
    from datatrove.utils.dataset import DatatroveFolderDataset

    token_size = token_dtype(inputs.vocab_size).itemsize
    dataset = DatatroveFolderDataset(str(data_dir / "tokens"), seq_len=SEQUENCE_LENGTH - 1, token_size=token_size)
    return DataLoader(dataset, batch_size=BATCH_SIZE, num_workers=WORKERS)


def prepare_megatron(inputs: Inputs, reference_dir: Path, data_dir: Path) -> None:
    """Write the ids as Megatron's ``.bin``/``.idx`` pair, one document per reference document."""
    from megatron.core.datasets.indexed_dataset import DType, IndexedDatasetBuilder

    ids = _reference_ids(inputs, reference_dir)
    lengths = np.load(reference_dir / REFERENCE_LENGTHS)
    prefix = str(data_dir / "megatron")
    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=DType.optimal_dtype(inputs.vocab_size))
    start = 0
    for length in lengths.tolist():
        builder.add_document(ids[start : start + length], [length])
        start += length
    builder.finalize(prefix + ".idx")


@dataclass(frozen=True)
class MegatronTokenizerInfo:
    """The attributes of a tokenizer that ``GPTDataset`` reads: vocabulary size, end-of-document
    and padding ids, and a cache key."""

    vocab_size: int
    eod: int
    pad: int

    @property
    def unique_identifiers(self) -> OrderedDict[str, Any]:
        return OrderedDict(cls="pipeline byte-level BPE", vocab_size=self.vocab_size)


def build_megatron(inputs: Inputs, data_dir: Path, run_dir: Path) -> DataLoader:
    """Build Megatron's ``GPTDataset`` with ``BlendedMegatronDatasetBuilder``, on CPU, for one epoch.

    Its document, sample and shuffle indices are cached in ``run_dir``, so every run builds
    them, and that time counts towards the first batch. Options are Megatron's defaults, so
    each sample also carries a ``[1, 512, 512]`` attention mask, labels, loss mask and positions.
    """
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    tokenizer = load_tokenizer(inputs.tokenizer_path)
    info = MegatronTokenizerInfo(
        vocab_size=inputs.vocab_size,
        eod=special_token_id(tokenizer, "[SEP]"),
        pad=special_token_id(tokenizer, "[PAD]"),
    )
    config = GPTDatasetConfig(
        random_seed=1234,
        sequence_length=SEQUENCE_LENGTH,
        blend=([str(data_dir / "megatron")], None),
        split="1,0,0",
        path_to_cache=str(run_dir / "megatron-cache"),
        tokenizer=info,
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
    )
    # Sizes None mean one epoch of each split; split "1,0,0" puts every document in train.
    train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [None, None, None], lambda: True, config).build()
    return DataLoader(train, batch_size=BATCH_SIZE, num_workers=WORKERS)


@dataclass(frozen=True)
class LoaderContender:
    """One way to load the ids.

    Attributes:
        prepare: Untimed writer of the contender's data format.
        build: Timed opening of the data, returning the ``DataLoader`` (any iterable of batches).
        key: Batch key of the id tensor; ``None`` when a batch is the id tensor itself.
        imports: Modules the measurement imports before the clock starts.
    """

    prepare: Callable[[Inputs, Path, Path], None]
    build: Callable[[Inputs, Path, Path], Iterable[object]]
    key: str | None
    imports: tuple[str, ...] = ()


CONTENDERS: dict[str, LoaderContender] = {
    "bare memmap slice": LoaderContender(prepare_memmap, build_memmap, None),
    "memmap slice, no DataLoader": LoaderContender(prepare_memmap, build_memmap_in_process, None),
    "memmap window per item": LoaderContender(prepare_memmap, build_memmap_windows, None),
    "pipeline ShardDataset": LoaderContender(prepare_pipeline, build_pipeline, "input_ids", ("pipeline.data",)),
    "datasets with_format(torch)": LoaderContender(prepare_datasets, build_datasets, "input_ids", ("datasets",)),
    "datatrove DatatroveFolderDataset": LoaderContender(
        prepare_datatrove, build_datatrove, "input_ids", ("datatrove.utils.dataset",)
    ),
    "megatron GPTDataset": LoaderContender(
        prepare_megatron,
        build_megatron,
        "tokens",
        ("megatron.core.datasets.blended_megatron_dataset_builder", "megatron.core.datasets.gpt_dataset"),
    ),
}
"""Contenders by table label; the first is the reference (ratio 1.0)."""

REFERENCE = "bare memmap slice"


def data_dir_for(inputs: Inputs, name: str) -> Path:
    """Return the folder holding the prepared data of the contender labelled ``name``."""
    slug = "".join(character if character.isalnum() else "-" for character in name).strip("-")
    return inputs.workdir / "loader" / slug


def batch_ids(batch: object, key: str | None) -> torch.Tensor:
    """Return the token-id tensor of a batch."""
    tensor = batch if key is None else batch[key]  # type: ignore[index]
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"batch key {key!r} contains {type(tensor).__name__}, expected a torch.Tensor")
    return tensor
