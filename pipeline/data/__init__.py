"""PyTorch access to the shards written by :mod:`pipeline.shards`.

- :class:`ShardDataset`: map-style, one sample per index or a whole batch per index list.
- :class:`ShardIterableDataset`: yields whole batches, split across ``DataLoader`` workers.
- :class:`ShardLoader`: a ``DataLoader`` that records its position for exact resume.
- :class:`MaskedLanguageModelCollator`: BERT-style masking for window-layout batches.

Shards are memory-mapped, so opening a dataset reads only the Arrow metadata.
"""

from pipeline.data.collate import IGNORE_INDEX, MaskedLanguageModelCollator
from pipeline.data.datasets import ShardDataset, ShardIterableDataset, ShardLoader
from pipeline.data.reader import ShardReader

__all__ = [
    "IGNORE_INDEX",
    "MaskedLanguageModelCollator",
    "ShardDataset",
    "ShardIterableDataset",
    "ShardLoader",
    "ShardReader",
]
