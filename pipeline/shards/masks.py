"""Global-mask policies: which tokens attend to, and are attended by, every token.

Each policy is a name in ``shards.global_mask``:

- ``cls``: the ``[CLS]`` token that starts each window row (window layout only).
- ``sep``: every ``[SEP]`` token.
- ``headings``: every token that overlaps a heading line, title included.
- ``title``: every token that overlaps a level-1 heading (the title).
- ``sentence_end``: every token whose text ends with sentence-final punctuation (``。！？.!?``).

``[PAD]`` is never global. :class:`GlobalMasker` computes the content-token part; the layouts
set ``[CLS]`` and ``[SEP]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding, Tokenizer

from pipeline.document import TITLE_LEVEL
from pipeline.shards.encoded import DocumentColumns

POLICIES = ("cls", "headings", "sep", "sentence_end", "title")
SENTENCE_END = frozenset("。！？.!?")


@dataclass(frozen=True)
class GlobalMasker:
    """Mark content tokens global according to the heading and sentence policies.

    Args:
        policies: Policy names, from :data:`POLICIES`.
        sentence_end: Boolean table over the vocabulary, true for tokens whose decoded text
            ends with sentence-final punctuation; empty unless ``sentence_end`` is a policy.
    """

    policies: frozenset[str]
    sentence_end: np.ndarray

    @classmethod
    def for_tokenizer(cls, tokenizer: Tokenizer, policies: Sequence[str]) -> GlobalMasker:
        unknown = sorted(set(policies) - set(POLICIES))
        if unknown:
            raise ValueError(f"unknown global-mask policies {unknown}; supported policies: {', '.join(POLICIES)}")

        table = np.zeros(0, dtype=bool)
        if "sentence_end" in policies:
            vocab_size = tokenizer.get_vocab_size()
            # One decode_batch call decodes the whole vocabulary in Rust. A token that ends inside
            # a multi-byte character decodes to U+FFFD, so it never counts as a sentence end.
            texts = tokenizer.decode_batch([[token_id] for token_id in range(vocab_size)], skip_special_tokens=True)
            table = np.array([bool(text.rstrip()) and text.rstrip()[-1] in SENTENCE_END for text in texts], dtype=bool)
        return cls(frozenset(policies), table)

    def content_mask(
        self, columns: DocumentColumns, encodings: Sequence[Encoding], tokens: np.ndarray, lengths: np.ndarray
    ) -> np.ndarray:
        """Return the global mask of the concatenated content tokens of a batch.

        Args:
            columns: The documents that were encoded.
            encodings: Their encodings, without special tokens.
            tokens: The concatenated token ids of ``encodings``.
            lengths: The number of tokens of each encoding.
        """
        mask = np.zeros(len(tokens), dtype=bool)
        if "sentence_end" in self.policies:
            mask |= self.sentence_end[tokens]

        if "headings" in self.policies:
            selected = np.ones(len(columns.heading_starts), dtype=bool)
        elif "title" in self.policies:
            selected = columns.heading_levels == TITLE_LEVEL
        else:
            return mask
        if not selected.any():
            return mask

        counts = np.diff(columns.heading_offsets)
        heading_documents = np.repeat(np.arange(len(columns)), counts)[selected]
        token_starts = np.concatenate([[0], np.cumsum(lengths)])
        range_starts: list[int] = []
        range_ends: list[int] = []
        for document, start, end in zip(
            heading_documents.tolist(),
            columns.heading_starts[selected].tolist(),
            columns.heading_ends[selected].tolist(),
            strict=True,
        ):
            token_range = heading_token_range(encodings[document], start, end)
            if token_range is not None:
                range_starts.append(int(token_starts[document]) + token_range[0])
                range_ends.append(int(token_starts[document]) + token_range[1])

        # Mark every token inside any range: +1 at each start, -1 at each end, then a running sum.
        delta = np.zeros(len(tokens) + 1, dtype=np.int32)
        np.add.at(delta, np.array(range_starts, dtype=np.int64), 1)
        np.add.at(delta, np.array(range_ends, dtype=np.int64), -1)
        mask |= np.cumsum(delta[:-1]) > 0
        return mask


def heading_token_range(encoding: Encoding, start: int, end: int) -> tuple[int, int] | None:
    """Return the ``[first, last + 1)`` tokens that overlap characters ``[start, end)``, or ``None``.

    ``char_to_token`` looks up only the two boundary characters, which costs far less than
    converting every offset of a long document to Python. When a boundary character has no
    token (the normalizer removed it), the offsets are searched instead.
    """
    if end <= start or len(encoding) == 0:
        return None
    first = encoding.char_to_token(start)
    last = encoding.char_to_token(end - 1)
    if first is not None and last is not None:
        return first, last + 1

    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    # A token overlaps the span when it ends after its start and starts before its end.
    first = int(np.searchsorted(offsets[:, 1], start, side="right"))
    stop = int(np.searchsorted(offsets[:, 0], end, side="left"))
    return (first, stop) if first < stop else None
