"""The Hugging Face BPE tokenizer: its lossless components and its training.

The tokenizer avoids the usual traps of this recipe:

- NFKC without accent stripping, so が stays が and データ stays データ;
- a pre-tokenizer with the matching decoder, so spaces survive decoding and no input maps to
  ``[UNK]``: byte-level symbols, or Metaspace with byte-fallback tokens ``<0x00>`` to
  ``<0xFF>`` for characters outside the learned alphabet;
- the ``[CLS] ... [SEP]`` post-processor takes its ids from the trained vocabulary;
- no truncation inside the tokenizer: the shards stage cuts windows itself, so ``[SEP]`` is
  never cut off.

With byte-level pre-tokenization ``decode(encode(x)) == NFKC(x)`` for every string. With
Metaspace it holds for every string without the character ``▁`` (U+2581), which Metaspace
uses for the space and therefore decodes as a space.

Training text may contain :data:`BOUNDARY`. The training tokenizer splits there and drops the
character, so no merge spans a boundary; the saved tokenizer does not know it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Literal

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from pipeline.config import SPECIAL_TOKENS

PreTokenizerName = Literal["byte_level", "metaspace"]

BOUNDARY = "\uffff"
"""Marks a place in training text that no merge may span: a morpheme boundary, or where a
special or user-defined token was cut out. U+FFFF is a Unicode noncharacter, kept for
internal use; an occurrence in the corpus itself only splits the training text there."""

METASPACE = "▁"
BYTE_TOKENS = tuple(f"<0x{byte:02X}>" for byte in range(256))


def build_tokenizer(pre_tokenizer: PreTokenizerName = "byte_level") -> Tokenizer:
    """Return an untrained BPE tokenizer with the NFKC normalizer and the matching decoder."""
    byte_fallback = pre_tokenizer == "metaspace"
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]", byte_fallback=byte_fallback))
    configure(tokenizer, pre_tokenizer)
    return tokenizer


def configure(tokenizer: Tokenizer, pre_tokenizer: PreTokenizerName) -> None:
    """Set the NFKC normalizer, the pre-tokenizer and its lossless decoder on ``tokenizer``."""
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = _pre_tokenizer(pre_tokenizer)
    if pre_tokenizer == "byte_level":
        tokenizer.decoder = decoders.ByteLevel()
    else:
        tokenizer.decoder = decoders.Sequence(
            [decoders.Replace(METASPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
        )


def _pre_tokenizer(name: PreTokenizerName) -> pre_tokenizers.PreTokenizer:
    if name == "byte_level":
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    # "never": a prepended space would decode as an extra space in front of every text and,
    # when the shards stage encodes morphemes one by one, in front of every morpheme.
    return pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="never", split=True)


def add_post_processor(tokenizer: Tokenizer) -> None:
    """Wrap single sequences as ``[CLS] $A [SEP]``, with ids looked up in the vocabulary."""
    cls_id = special_token_id(tokenizer, "[CLS]")
    sep_id = special_token_id(tokenizer, "[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )


def special_token_id(tokenizer: Tokenizer, token: str) -> int:
    """Return the id of a special token, raising if the vocabulary lacks it."""
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
        raise ValueError(f"tokenizer vocabulary has no {token} token; retrain it with `make tokenizer`")
    return token_id


def train(
    texts: Iterable[str | Sequence[str]],
    *,
    vocab_size: int,
    min_frequency: int,
    length: int | None = None,
    pre_tokenizer: PreTokenizerName = "byte_level",
    extra_special_tokens: Sequence[str] = (),
    user_tokens: Sequence[str] = (),
    show_progress: bool = True,
) -> Tokenizer:
    """Train a BPE tokenizer from texts or batches of texts.

    Args:
        texts: Document texts or batches of them, streamed. A :data:`BOUNDARY` character
            splits a text into parts that no merge spans.
        vocab_size: Final vocabulary size, special, byte and user-defined tokens included.
        min_frequency: Minimum pair count for a merge.
        length: Number of items in ``texts``, for the progress bar only. Default: unknown.
        pre_tokenizer: ``byte_level`` or ``metaspace``. Default: ``byte_level``.
        extra_special_tokens: Special tokens with ids after the five fixed ones. Default: none.
        user_tokens: Tokens matched whole and decoded as text, with the last ids. Default: none.
        show_progress: Show the trainer's progress bars. Default: True.
    """
    special_tokens = [*SPECIAL_TOKENS, *extra_special_tokens]
    learned_size = vocab_size - len(user_tokens)
    if pre_tokenizer == "metaspace":
        learned_size -= len(BYTE_TOKENS)
        # NOTE: at most a quarter of the learned tokens are single characters, like a
        # character coverage below 1 in SentencePiece; rarer characters use byte tokens.
        trainer = trainers.BpeTrainer(
            vocab_size=learned_size,
            min_frequency=min_frequency,
            special_tokens=special_tokens,
            limit_alphabet=max(1, (learned_size - len(special_tokens)) // 4),
            show_progress=show_progress,
        )
    else:
        trainer = trainers.BpeTrainer(
            vocab_size=learned_size,
            min_frequency=min_frequency,
            special_tokens=special_tokens,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )

    tokenizer = build_tokenizer(pre_tokenizer)
    final_pre_tokenizer = tokenizer.pre_tokenizer
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(BOUNDARY, behavior="removed"), _pre_tokenizer(pre_tokenizer)]
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=length)
    tokenizer.pre_tokenizer = final_pre_tokenizer

    if pre_tokenizer == "metaspace":
        tokenizer = _with_byte_tokens(tokenizer)
    if user_tokens:
        tokenizer.add_tokens(list(user_tokens))
    add_post_processor(tokenizer)
    return tokenizer


def _with_byte_tokens(tokenizer: Tokenizer) -> Tokenizer:
    # BpeTrainer has no byte-fallback option, so the 256 byte tokens join the model's
    # vocabulary after training, with the next free ids.
    state = json.loads(tokenizer.to_str())
    vocab: dict[str, int] = state["model"]["vocab"]
    next_id = max(vocab.values()) + 1
    for token in BYTE_TOKENS:
        if token not in vocab:
            vocab[token] = next_id
            next_id += 1
    state["model"]["byte_fallback"] = True
    return Tokenizer.from_str(json.dumps(state))
