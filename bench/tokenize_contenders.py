"""Contenders of the tokenization benchmark: Parquet documents in, token ids on disk out.

Each contender is a :class:`Contender`. Its ``run(inputs, run_dir)`` reads ``inputs.files``,
encodes every ``text`` with the tokenizer at ``inputs.tokenizer_path`` and writes its own
output format under the empty folder ``run_dir``. Its untimed ``count(inputs, run_dir)`` reads
back how many tokens were written (special tokens included), so the table shows that every
contender wrote the whole corpus. Peers are imported inside their function: a missing package raises
``ImportError``, and the harness shows the contender as skipped with that message.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from bench.prepare import Inputs
from pipeline.shards.schema import token_dtype
from pipeline.tokenizer import special_token_id

BATCH_SIZE = 1000
"""Documents per ``encode_batch`` call, the pipeline's default ``shards.batch_size``."""

REFERENCE_IDS = "ids.bin"
REFERENCE_LENGTHS = "lengths.npy"


def iter_texts(files: list[Path], *, batch_size: int = BATCH_SIZE) -> Iterator[list[str]]:
    """Stream the ``text`` column of Parquet files in batches of at most ``batch_size``."""
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_size, columns=["text"]):
            yield batch.column(0).to_pylist()


def bare_encode_batch(inputs: Inputs, run_dir: Path) -> None:
    """Encode with ``Tokenizer.encode_batch`` and append the ids to one ``uint16`` file.

    Also writes ``lengths.npy`` (tokens per document, int64), which the loading benchmark uses
    to rebuild document boundaries.
    """
    tokenizer = Tokenizer.from_file(str(inputs.tokenizer_path))
    dtype = token_dtype(inputs.vocab_size)
    lengths: list[int] = []
    with (run_dir / REFERENCE_IDS).open("wb") as sink:
        for texts in iter_texts(inputs.files):
            encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
            lengths.extend(len(encoding.ids) for encoding in encodings)
            np.concatenate([np.asarray(encoding.ids, dtype=dtype) for encoding in encodings]).tofile(sink)
    np.save(run_dir / REFERENCE_LENGTHS, np.asarray(lengths, dtype=np.int64))


def count_bare(inputs: Inputs, run_dir: Path) -> int:
    return int(np.load(run_dir / REFERENCE_LENGTHS).sum())


def pipeline_shards(inputs: Inputs, run_dir: Path) -> None:
    """Run this pipeline's shards stage: windows, global masks, Arrow files and manifest."""
    from pipeline import shards

    config = inputs.pipeline_config(run_dir)
    config.tokenizer_dir.mkdir(parents=True)
    shutil.copyfile(inputs.tokenizer_path, config.tokenizer_dir / inputs.tokenizer_path.name)
    shards.run(config)


def count_pipeline(inputs: Inputs, run_dir: Path) -> int:
    """Sum the tokens of the train and validation manifests, ``[CLS]`` and ``[SEP]`` included."""
    total = 0
    for manifest_path in sorted((run_dir / "shards").glob("*/manifest.json")):
        total += int(json.loads(manifest_path.read_text(encoding="utf-8"))["tokens"])
    return total


def datasets_map(inputs: Inputs, run_dir: Path) -> None:
    """``Dataset.from_parquet``, ``map(batched=True, num_proc=<cores>)``, then ``save_to_disk``."""
    import datasets

    tokenizer = Tokenizer.from_file(str(inputs.tokenizer_path))

    def encode(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        encodings = tokenizer.encode_batch(batch["text"], add_special_tokens=False)
        return {"input_ids": [encoding.ids for encoding in encodings]}

    # Without features, datasets infers them from the whole Parquet schema, whose metadata map
    # column it cannot represent, even though only the text column is read.
    dataset = datasets.Dataset.from_parquet(
        [str(file) for file in inputs.files],
        columns=["text"],
        features=datasets.Features({"text": datasets.Value("string")}),
        cache_dir=str(run_dir / "cache"),
    )
    assert isinstance(dataset, datasets.Dataset)
    encoded = dataset.map(
        encode, batched=True, batch_size=BATCH_SIZE, num_proc=inputs.cores, remove_columns=dataset.column_names
    )
    encoded.save_to_disk(str(run_dir / "dataset"))


def count_datasets(inputs: Inputs, run_dir: Path) -> int:
    import datasets

    saved = datasets.load_from_disk(str(run_dir / "dataset"))
    return int(pc.sum(pc.list_value_length(saved.data.column("input_ids"))).as_py())


def datatrove_tokenizer(inputs: Inputs, run_dir: Path) -> None:
    """datatrove's ``ParquetReader`` and ``DocumentTokenizer`` on ``LocalPipelineExecutor``, one task per core.

    ``shuffle_documents=False`` keeps the step comparable with the others, which write
    documents in input order; datatrove's default shuffle adds a second pass over the output.
    The tokenizer's post-processor adds ``[CLS]`` and ``[SEP]`` to every document, since
    ``DocumentTokenizer`` encodes with special tokens.
    """
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.tokens import DocumentTokenizer

    executor = LocalPipelineExecutor(
        pipeline=[
            ParquetReader(str(inputs.clean_dir), glob_pattern="*/documents-*.parquet", read_metadata=False),
            DocumentTokenizer(
                output_folder=str(run_dir / "tokens"),
                tokenizer_name_or_path=str(inputs.tokenizer_path),
                shuffle_documents=False,
                batch_size=BATCH_SIZE,
            ),
        ],
        tasks=inputs.cores,
        workers=inputs.cores,
        logging_dir=str(run_dir / "logs"),
    )
    executor.run()


def count_datatrove(inputs: Inputs, run_dir: Path) -> int:
    token_size = token_dtype(inputs.vocab_size).itemsize
    return sum(path.stat().st_size for path in (run_dir / "tokens").glob("*.ds")) // token_size


_MEGATRON_TOKENIZER: Tokenizer | None = None
_MEGATRON_EOD = 0


def _megatron_initialize(tokenizer_path: str) -> None:
    global _MEGATRON_TOKENIZER, _MEGATRON_EOD
    _MEGATRON_TOKENIZER = Tokenizer.from_file(tokenizer_path)
    _MEGATRON_EOD = special_token_id(_MEGATRON_TOKENIZER, "[SEP]")


def _megatron_encode(text: str) -> list[int]:
    # One document per call, plus the end-of-document id, as Megatron's preprocess_data.py
    # does with --append-eod.
    assert _MEGATRON_TOKENIZER is not None
    return [*_MEGATRON_TOKENIZER.encode(text, add_special_tokens=False).ids, _MEGATRON_EOD]


def megatron_builder(inputs: Inputs, run_dir: Path) -> None:
    """megatron-core's ``IndexedDatasetBuilder`` fed by a process pool of encoders (one per core)."""
    from megatron.core.datasets.indexed_dataset import DType, IndexedDatasetBuilder

    prefix = str(run_dir / "megatron")
    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=DType.optimal_dtype(inputs.vocab_size))
    texts = (text for batch in iter_texts(inputs.files) for text in batch)
    with multiprocessing.get_context("fork").Pool(
        inputs.cores, initializer=_megatron_initialize, initargs=(str(inputs.tokenizer_path),)
    ) as pool:
        for ids in pool.imap(_megatron_encode, texts, chunksize=32):
            # A plain list, as preprocess_data.py passes it; the builder converts it with numpy.
            builder.add_document(ids, [len(ids)])
    builder.finalize(prefix + ".idx")


def count_megatron(inputs: Inputs, run_dir: Path) -> int:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    # sequence_lengths is a view into the index's memory map, which closes with the dataset.
    dataset = IndexedDataset(str(run_dir / "megatron"))
    tokens = int(dataset.sequence_lengths.sum())
    del dataset
    return tokens


@dataclass(frozen=True)
class Contender:
    """One way to tokenize the corpus.

    Attributes:
        run: The timed work.
        count: Untimed check that reads back the number of tokens written.
        imports: Modules the measurement imports before the clock starts, so that import
            time (seconds for megatron-core) does not count as tokenization.
    """

    run: Callable[[Inputs, Path], None]
    count: Callable[[Inputs, Path], int]
    imports: tuple[str, ...] = ()


CONTENDERS: dict[str, Contender] = {
    "bare encode_batch": Contender(bare_encode_batch, count_bare),
    "pipeline shards": Contender(pipeline_shards, count_pipeline, ("pipeline.shards",)),
    "datasets map": Contender(datasets_map, count_datasets, ("datasets",)),
    "datatrove DocumentTokenizer": Contender(
        datatrove_tokenizer,
        count_datatrove,
        ("datatrove.executor", "datatrove.pipeline.readers", "datatrove.pipeline.tokens"),
    ),
    "megatron IndexedDatasetBuilder": Contender(
        megatron_builder, count_megatron, ("megatron.core.datasets.indexed_dataset",)
    ),
}
"""Contenders by table label; the first is the reference (ratio 1.0)."""

REFERENCE = "bare encode_batch"


def with_tokens(inputs: Inputs, reference_dir: Path) -> Inputs:
    """Return ``inputs`` with ``tokens`` counted from a reference run's ``lengths.npy``."""
    lengths = np.load(reference_dir / REFERENCE_LENGTHS)
    return dataclasses.replace(inputs, tokens=int(lengths.sum()))
