"""Prepare the documents and the tokenizer that every side-by-side contender shares.

Layout of the work folder (``bench/results/work`` by default):

- ``source/``: the corpus stage's output for the benchmark config, cleaned once.
- ``input/clean/<source>/documents-NNNNN.parquet``: the measured documents, in the pipeline's
  Parquet schema, split into one file per core so that executors with one task per file
  (datatrove) can use every core. With ``repeat > 1`` each document appears that many times,
  with ``#k`` appended to the id of the ``k``-th copy.
- ``outputs/tokenizer/tokenizer.json``: the one tokenizer every contender uses.
- ``inputs.json``: :class:`Inputs`, read by each measurement subprocess.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import corpus, tokenizer
from pipeline.config import Config, load_config
from pipeline.corpus_units import corpus_store
from pipeline.fingerprint import Fingerprint
from pipeline.parquet import DOCUMENT_SCHEMA, clean_files

logger = logging.getLogger(__name__)

INPUTS_FILE = "inputs.json"
SEQUENCE_LENGTH = 512
"""Tokens per training row: the ``[32, 512]`` batches of the loading benchmark."""


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """Inputs shared by every contender.

    Args:
        workdir: Work folder of this benchmark run.
        config_path: The benchmark config the corpus came from.
        sources: Source names, in config order.
        files: Parquet files of the measured documents, in source then file order.
        tokenizer_path: The shared ``tokenizer.json``.
        vocab_size: Tokens in the tokenizer's vocabulary.
        documents: Number of measured documents, copies included.
        text_bytes: UTF-8 bytes of all ``text`` values, copies included.
        repeat: Copies of each cleaned document.
        cores: Cores usable by this process, one input file and one worker per core.
        tokens: Content tokens of all documents (no special tokens), counted by the bare
            ``encode_batch`` reference; 0 until the reference has run.
    """

    workdir: Path
    config_path: Path
    sources: list[str]
    files: list[Path]
    tokenizer_path: Path
    vocab_size: int
    documents: int
    text_bytes: int
    repeat: int
    cores: int
    tokens: int = 0

    @property
    def clean_dir(self) -> Path:
        return self.workdir / "input" / "clean"

    def pipeline_config(self, outputs_dir: Path) -> Config:
        """Return the benchmark config reading the measured documents and writing to ``outputs_dir``.

        The shards stage writes rows of :data:`SEQUENCE_LENGTH` tokens, whatever ``max_len`` the config sets,
        and no validation split, so every contender reads the same documents.
        """
        base = load_config(self.config_path)
        shards = dataclasses.replace(base.shards, max_len=SEQUENCE_LENGTH, validation_fraction=0.0)
        return dataclasses.replace(base, corpora_dir=self.workdir / "input", outputs_dir=outputs_dir, shards=shards)

    def describe(self) -> str:
        """Return one line naming the corpus and its size."""
        copies = f" ({self.repeat} copies of each document)" if self.repeat > 1 else ""
        tokens = f", {self.tokens:,} tokens" if self.tokens else ""
        config = self.config_path
        if config.is_relative_to(Path.cwd()):
            config = config.relative_to(Path.cwd())
        return (
            f"{', '.join(self.sources)} from {config}: {self.documents:,} documents{copies}, "
            f"{self.text_bytes / 1e6:.1f} MB of UTF-8 text{tokens}; vocabulary {self.vocab_size:,}"
        )

    def save(self) -> None:
        data = dataclasses.asdict(self)
        data = {key: _to_json(value) for key, value in data.items()}
        (self.workdir / INPUTS_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, workdir: Path) -> Inputs:
        data = json.loads((workdir / INPUTS_FILE).read_text(encoding="utf-8"))
        for key in ("workdir", "config_path", "tokenizer_path"):
            data[key] = Path(data[key])
        data["files"] = [Path(file) for file in data["files"]]
        return cls(**data)


def _to_json(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    return value


def prepare(
    *,
    config_path: Path,
    workdir: Path,
    cores: int,
    limit: int | None = None,
    repeat: int = 1,
    tokenizer_path: Path | None = None,
) -> Inputs:
    """Clean the config's corpora, build the measured documents and train or copy the tokenizer.

    Args:
        config_path: Pipeline YAML config naming the sources (and tokenizer settings).
        workdir: Work folder; its ``source``, ``input`` and ``outputs`` folders are replaced.
        cores: Input files per source, one per core.
        limit: Documents kept per source, the first ones in file order. Default: all.
        repeat: Copies of each kept document. Default: 1.
        tokenizer_path: Existing ``tokenizer.json`` to use. Default: train one with the
            pipeline's tokenizer stage on the cleaned documents (before copies are made).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    config_path = config_path.resolve()
    workdir = workdir.resolve()
    for folder in ("source", "input", "outputs"):
        shutil.rmtree(workdir / folder, ignore_errors=True)

    base = load_config(config_path)
    source_config = dataclasses.replace(base, corpora_dir=workdir / "source", outputs_dir=workdir / "outputs")
    corpus.run(source_config)

    files: list[Path] = []
    documents = 0
    text_bytes = 0
    for source in base.sources:
        table = _read_documents(clean_files(source_config.clean_dir, [source]), limit=limit, repeat=repeat)
        documents += table.num_rows
        text_bytes += int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)
        files.extend(_write_parts(table, workdir / "input" / "clean" / source, parts=cores))

    target = workdir / "outputs" / "tokenizer" / tokenizer.TOKENIZER_FILE
    if tokenizer_path is None:
        # Train on the kept documents without copies, so that repeat does not change the merges.
        training_config = dataclasses.replace(source_config, corpora_dir=workdir / "training")
        shutil.rmtree(workdir / "training", ignore_errors=True)
        # The tokenizer stage reads only sources with a completion marker, so each is written as a unit.
        store = corpus_store(training_config)
        for source in base.sources:
            table = _read_documents(clean_files(source_config.clean_dir, [source]), limit=limit, repeat=1)
            with store.unit(source, Fingerprint(config={"benchmark": {"limit": limit}})) as unit:
                path = unit.path(f"{source}/documents-00000.parquet")
                pq.write_table(table, path, compression="zstd", row_group_size=1000)
        tokenizer.run(training_config)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tokenizer_path, target)

    inputs = Inputs(
        workdir=workdir,
        config_path=config_path,
        sources=list(base.sources),
        files=files,
        tokenizer_path=target,
        vocab_size=tokenizer.load_tokenizer(target).get_vocab_size(),
        documents=documents,
        text_bytes=text_bytes,
        repeat=repeat,
        cores=cores,
    )
    inputs.save()
    logger.info("prepared %s", inputs.describe())
    return inputs


def _read_documents(files: list[Path], *, limit: int | None, repeat: int) -> pa.Table:
    if not files:
        raise FileNotFoundError("the corpus stage wrote no documents; check the sources of the benchmark config")
    table = pa.concat_tables(pq.read_table(file, schema=DOCUMENT_SCHEMA) for file in files)
    if limit is not None:
        table = table.slice(0, limit)
    copies = [table]
    for copy in range(1, repeat):
        ids = pc.binary_join_element_wise(table.column("id"), pa.scalar(f"#{copy}"), "")
        copies.append(table.set_column(0, "id", ids))
    return pa.concat_tables(copies)


def _write_parts(table: pa.Table, folder: Path, *, parts: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rows_per_part = -(-table.num_rows // parts)
    files = []
    for part in range(parts):
        piece = table.slice(part * rows_per_part, rows_per_part)
        if piece.num_rows == 0:
            break
        path = folder / f"documents-{part:05d}.parquet"
        pq.write_table(piece, path, compression="zstd", row_group_size=1000)
        files.append(path)
    return files
