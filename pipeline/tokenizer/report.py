"""Quality report of a trained tokenizer on held-out documents, and peak-memory measurement.

Per source, on documents held out of training (see :mod:`pipeline.tokenizer.training_data`):

- ``characters_per_token``: characters of the texts over their content tokens;
- ``tokens_per_unit``: tokens per whitespace-separated word for English and per MeCab
  morpheme for Japanese. A source counts as Japanese when kana and CJK ideographs make up
  at least a fifth of its non-space characters;
- ``unknown_rate``: share of tokens that are ``[UNK]``;
- ``vocabulary_used``: share of the vocabulary that occurs in the encoded documents;
- ``round_trip_rate``: share of documents whose decoded tokens equal ``NFKC(text)``.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import threading
import unicodedata
from collections.abc import Iterable
from types import TracebackType

from tokenizers import Tokenizer

from pipeline.morphemes import shared_segmenter
from pipeline.tokenizer.encoding import encode, tokenizer_settings
from pipeline.tokenizer.model import special_token_id

_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_JAPANESE_SHARE = 0.2
_RATIOS = ("characters_per_token", "tokens_per_unit", "unknown_rate", "vocabulary_used", "round_trip_rate")


def source_report(tokenizer: Tokenizer, batches: Iterable[tuple[list[str], list[list[int]]]]) -> dict[str, object]:
    """Encode held-out texts with :func:`~pipeline.tokenizer.encoding.encode` and measure them.

    Args:
        tokenizer: A tokenizer from :func:`~pipeline.tokenizer.encoding.load_tokenizer`.
        batches: ``(texts, morpheme_ends)`` batches of one source's held-out documents.
    """
    unk_id = special_token_id(tokenizer, "[UNK]")
    used: set[int] = set()
    encoded: list[tuple[str, list[int]]] = []
    documents = characters = tokens = unknown = exact = japanese = visible = 0
    for texts, ends in batches:
        encodings = encode(tokenizer, texts, morpheme_ends=ends)
        for text, encoding, text_ends in zip(texts, encodings, ends, strict=True):
            ids = encoding.ids
            documents += 1
            characters += len(text)
            tokens += len(ids)
            unknown += ids.count(unk_id)
            used.update(ids)
            exact += tokenizer.decode(ids, skip_special_tokens=False) == unicodedata.normalize("NFKC", text)
            japanese += len(_JAPANESE.findall(text))
            visible += sum(not char.isspace() for char in text)
            encoded.append((text, text_ends))

    if not documents:
        empty: dict[str, object] = {"documents": 0, "characters": 0, "tokens": 0, "language": None, "unit": None}
        return empty | dict.fromkeys(_RATIOS)

    is_japanese = visible > 0 and japanese / visible >= _JAPANESE_SHARE
    if is_japanese:
        units = sum(len(ends) if ends else len(_morpheme_ends(tokenizer, text)) for text, ends in encoded)
    else:
        units = sum(len(text.split()) for text, _ in encoded)
    return {
        "documents": documents,
        "characters": characters,
        "tokens": tokens,
        "language": "ja" if is_japanese else "en",
        "unit": "morpheme" if is_japanese else "word",
        "characters_per_token": _ratio(characters, tokens),
        "tokens_per_unit": _ratio(tokens, units),
        "unknown_rate": _ratio(unknown, tokens),
        "vocabulary_used": _ratio(len(used), tokenizer.get_vocab_size()),
        "round_trip_rate": _ratio(exact, documents),
    }


def _morpheme_ends(tokenizer: Tokenizer, text: str) -> tuple[int, ...]:
    settings = tokenizer_settings(tokenizer)
    return shared_segmenter(settings.max_chunk_characters).morpheme_ends(text)


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def format_table(report: dict[str, object]) -> str:
    """Format the per-source rows and the training cost of a report as a text table."""
    header = f"{'source':<12} {'docs':>6} {'chars/token':>11} {'tokens/unit':>16} {'unk':>8} {'vocab':>7} {'exact':>7}"
    lines = [header, "-" * len(header)]
    sources = report["sources"]
    assert isinstance(sources, dict)
    for name, row in sources.items():
        per_unit = f"{_format(row['tokens_per_unit'], '.3f')}/{row['unit']}" if row["unit"] else "-"
        lines.append(
            f"{name:<12} {row['documents']:>6} {_format(row['characters_per_token'], '.3f'):>11} {per_unit:>16} "
            f"{_format(row['unknown_rate'], '.2%'):>8} {_format(row['vocabulary_used'], '.1%'):>7} "
            f"{_format(row['round_trip_rate'], '.1%'):>7}"
        )
    training = report["training"]
    assert isinstance(training, dict)
    peak = training["peak_memory_bytes"]
    lines.append(
        f"training: {training['seconds']:.1f} s, peak memory {peak / 2**20:.0f} MiB, "
        f"{training['characters']} characters from {training['documents']} documents"
    )
    return "\n".join(lines)


def _format(value: object, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class PeakMemory:
    """Measure the peak resident memory of this process inside a ``with`` block, in bytes.

    On Linux a thread samples ``/proc/self/statm`` every 20 ms, so the peak belongs to the
    block alone and includes memory that Rust and C++ libraries allocate. Elsewhere the
    value is the process's lifetime peak from ``getrusage``.
    """

    interval = 0.02

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if os.path.exists("/proc/self/statm"):
            self._record()
            self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._record()
            return
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
        self.peak_bytes = peak if sys.platform == "darwin" else peak * 1024

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._record()

    def _record(self) -> None:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
        self.peak_bytes = max(self.peak_bytes, resident_pages * os.sysconf("SC_PAGE_SIZE"))
