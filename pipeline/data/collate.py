"""Masked-language-model corruption of window-layout batches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.utils.data import get_worker_info

IGNORE_INDEX = -100
"""Label of positions that take no part in the loss (the default ``ignore_index`` of ``cross_entropy``)."""


class MaskedLanguageModelCollator:
    """Select content tokens for prediction and corrupt them, BERT style.

    Each content token (any token that is not a special token such as ``[CLS]``, ``[SEP]`` or
    ``[PAD]``) is selected with probability ``probability``. A selected token becomes
    ``[MASK]`` with probability ``mask_share``, a random content token with probability
    ``random_share``, and stays unchanged otherwise. ``labels`` contains the original id at
    selected positions and :data:`IGNORE_INDEX` elsewhere. Other keys pass through unchanged.

    The generator is seeded with ``seed`` plus the ``DataLoader`` worker id, so runs repeat
    exactly and workers do not draw the same masks.

    Args:
        mask_id: Id of ``[MASK]``.
        vocab_size: Vocabulary size; random replacements are drawn from its non-special ids.
        special_ids: Ids that are never selected or drawn.
        probability: Share of content tokens selected. Default: 0.15.
        mask_share: Share of selected tokens replaced by ``[MASK]``. Default: 0.8.
        random_share: Share of selected tokens replaced by a random token. Default: 0.1.
        seed: Generator seed. Default: 0.
    """

    def __init__(
        self,
        *,
        mask_id: int,
        vocab_size: int,
        special_ids: Iterable[int],
        probability: float = 0.15,
        mask_share: float = 0.8,
        random_share: float = 0.1,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {probability}")
        if mask_share < 0.0 or random_share < 0.0 or mask_share + random_share > 1.0:
            raise ValueError(
                f"mask_share and random_share must be non-negative with a sum of at most 1, "
                f"got {mask_share} and {random_share}"
            )
        self.mask_id = mask_id
        self.special_ids = torch.tensor(sorted(set(special_ids) | {mask_id}), dtype=torch.int64)
        allowed = torch.ones(vocab_size, dtype=torch.bool)
        allowed[self.special_ids] = False
        self.replacement_ids = torch.nonzero(allowed).flatten()
        self.probability = probability
        self.mask_share = mask_share
        self.random_share = random_share
        self.seed = seed
        self._generator: torch.Generator | None = None

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], **kwargs: Any) -> MaskedLanguageModelCollator:
        """Build from a split manifest's ``special_ids`` and ``vocab_size``; ``kwargs`` set the shares."""
        special = manifest["special_ids"]
        return cls(mask_id=special["[MASK]"], vocab_size=manifest["vocab_size"], special_ids=special.values(), **kwargs)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        generator = self._get_generator()
        input_ids = batch["input_ids"]
        content = ~torch.isin(input_ids, self.special_ids)
        selected = (torch.rand(input_ids.shape, generator=generator) < self.probability) & content
        draw = torch.rand(input_ids.shape, generator=generator)
        to_mask = selected & (draw < self.mask_share)
        to_random = selected & (draw >= self.mask_share) & (draw < self.mask_share + self.random_share)

        corrupted = input_ids.clone()
        corrupted[to_mask] = self.mask_id
        choices = torch.randint(len(self.replacement_ids), (int(to_random.sum()),), generator=generator)
        corrupted[to_random] = self.replacement_ids[choices]
        labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
        return {**batch, "input_ids": corrupted, "labels": labels}

    def _get_generator(self) -> torch.Generator:
        if self._generator is None:
            worker = get_worker_info()
            self._generator = torch.Generator().manual_seed(self.seed + (0 if worker is None else worker.id))
        return self._generator
