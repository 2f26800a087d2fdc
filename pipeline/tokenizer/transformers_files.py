"""The files ``transformers`` reads beside ``tokenizer.json``.

``AutoTokenizer.from_pretrained(folder)`` reads ``tokenizer_config.json`` for the tokenizer
class, the special tokens, the padding side and ``model_max_length``, and builds a fast
tokenizer from ``tokenizer.json``. ``PreTrainedTokenizerFast`` is the class name that
``transformers`` 4 uses and that ``transformers`` 5 still resolves (checked with 5.x). The files
are written as JSON here, so the pipeline does not need ``transformers`` installed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"

ROLES = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "mask_token": "[MASK]", "sep_token": "[SEP]"}


def write_transformers_files(folder: Path, *, model_max_length: int, extra_special_tokens: Sequence[str]) -> list[Path]:
    """Write ``tokenizer_config.json`` and ``special_tokens_map.json`` into ``folder``.

    Args:
        folder: The tokenizer folder, which already contains ``tokenizer.json``.
        model_max_length: Longest sequence a model takes, in tokens (the shards' ``max_len``).
        extra_special_tokens: Special tokens beyond the five with a role.
    """
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **ROLES,
        "extra_special_tokens": list(extra_special_tokens),
        "model_max_length": model_max_length,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }
    special_tokens_map = {**ROLES, "additional_special_tokens": list(extra_special_tokens)}
    paths = []
    for name, content in ((TOKENIZER_CONFIG_FILE, config), (SPECIAL_TOKENS_MAP_FILE, special_tokens_map)):
        path = folder / name
        path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
