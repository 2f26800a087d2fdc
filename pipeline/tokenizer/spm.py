"""The SentencePiece backend: train BPE or Unigram with ``sentencepiece``, save it as ``tokenizer.json``.

SentencePiece trains on the same stream of texts as the Hugging Face backend. Each text is
cut into sentences at line breaks and at :data:`~pipeline.tokenizer.model.BOUNDARY`
(morpheme boundaries and cut-out special tokens), so no piece spans either, and normalized
with NFKC here because the model is trained with the ``identity`` normalization rule.

The trained model is rebuilt as a ``tokenizers`` model so the rest of the pipeline and
``transformers`` use it like the Hugging Face one:

- Unigram: the pieces and their scores become a ``tokenizers`` Unigram model;
- BPE: the pieces become the vocabulary and the merges are read back from them, every way
  of splitting a piece into two pieces of the vocabulary, ranked by the score of the merged
  piece (SentencePiece stores no merge list).

Both keep SentencePiece's ids: ``[PAD] [UNK] [CLS] [MASK] [SEP]``, the extra special tokens,
the user-defined tokens, the 256 byte-fallback tokens ``<0x00>`` to ``<0xFF>``, then the
learned pieces. The normalizer is NFKC and the pre-tokenizer Metaspace without a prepended
``▁``, matching ``add_dummy_prefix=false``. The original model is saved as
``sentencepiece.model`` beside ``tokenizer.json``.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from tokenizers import Tokenizer, models

from pipeline.config import SPECIAL_TOKENS, ConfigError
from pipeline.tokenizer.model import BOUNDARY, add_post_processor, configure

SENTENCEPIECE_FILE = "sentencepiece.model"

CHARACTER_COVERAGE = 0.9995
"""Share of character occurrences that get a piece of their own; the rest use byte tokens.
0.9995 is SentencePiece's recommendation for Japanese and Chinese."""

MAX_SENTENCE_CHARACTERS = 2048
"""Longer sentences are cut into parts of this many characters before training, because
SentencePiece skips a sentence longer than its ``max_sentence_length`` bytes."""


def train_sentencepiece(
    texts: Iterable[str],
    *,
    model_type: Literal["bpe", "unigram"],
    vocab_size: int,
    extra_special_tokens: Sequence[str] = (),
    user_tokens: Sequence[str] = (),
    threads: int = 1,
) -> tuple[Tokenizer, bytes]:
    """Train a SentencePiece model and return it as a ``tokenizers`` tokenizer and as bytes.

    Args:
        texts: Document texts, streamed; :data:`BOUNDARY` splits them like a line break.
        model_type: ``bpe`` or ``unigram``.
        vocab_size: Final vocabulary size, special, user-defined and byte tokens included.
        extra_special_tokens: Special tokens with ids after the five fixed ones. Default: none.
        user_tokens: Tokens kept whole and decoded as text. Default: none.
        threads: Trainer threads. Default: 1.

    Raises:
        ConfigError: ``vocab_size`` is too small for the characters the corpus needs.
    """
    # Imported here because only this backend needs sentencepiece.
    import sentencepiece

    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=_sentences(texts),
            model_writer=model,
            model_type=model_type,
            vocab_size=vocab_size,
            character_coverage=CHARACTER_COVERAGE,
            byte_fallback=True,
            normalization_rule_name="identity",
            add_dummy_prefix=False,
            remove_extra_whitespaces=False,
            max_sentence_length=MAX_SENTENCE_CHARACTERS * 4,
            pad_id=0,
            unk_id=1,
            bos_id=-1,
            eos_id=-1,
            pad_piece=SPECIAL_TOKENS[0],
            unk_piece=SPECIAL_TOKENS[1],
            control_symbols=[*SPECIAL_TOKENS[2:], *extra_special_tokens],
            user_defined_symbols=list(user_tokens),
            hard_vocab_limit=False,
            num_threads=threads,
            minloglevel=2,
        )
    except RuntimeError as error:
        if "required_chars" in str(error):
            raise ConfigError(
                f"tokenizer.vocab_size {vocab_size} is too small for the characters of this corpus "
                f"({error}); raise tokenizer.vocab_size"
            ) from None
        raise

    proto = model.getvalue()
    processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
    tokenizer = _convert(processor, model_type, user_tokens)
    configure(tokenizer, "metaspace")
    tokenizer.add_special_tokens([*SPECIAL_TOKENS, *extra_special_tokens])
    if user_tokens:
        tokenizer.add_tokens(list(user_tokens))
    add_post_processor(tokenizer)
    return tokenizer, proto


def _sentences(texts: Iterable[str]) -> Iterable[str]:
    for text in texts:
        for line in text.replace(BOUNDARY, "\n").split("\n"):
            line = unicodedata.normalize("NFKC", line)
            for start in range(0, len(line), MAX_SENTENCE_CHARACTERS):
                yield line[start : start + MAX_SENTENCE_CHARACTERS]


def _convert(processor: Any, model_type: str, user_tokens: Sequence[str]) -> Tokenizer:
    size = processor.get_piece_size()
    pieces: list[str] = [processor.id_to_piece(index) for index in range(size)]
    scores: list[float] = [processor.get_score(index) for index in range(size)]
    unk_id = SPECIAL_TOKENS.index("[UNK]")

    if model_type == "unigram":
        return Tokenizer(models.Unigram(list(zip(pieces, scores, strict=True)), unk_id=unk_id, byte_fallback=True))

    vocab = {piece: index for index, piece in enumerate(pieces)}
    reserved = set(user_tokens)
    ranked: list[tuple[float, int, int, str, str]] = []
    for index, piece in enumerate(pieces):
        if processor.is_control(index) or processor.is_unknown(index) or processor.is_byte(index) or piece in reserved:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                ranked.append((-scores[index], vocab[left], vocab[right], left, right))
    ranked.sort()
    merges = [(left, right) for _, _, _, left, right in ranked]
    return Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=SPECIAL_TOKENS[1], byte_fallback=True))
