"""Corpus preprocessing for language-model pretraining: corpora to tokenizer to Arrow shards."""

__version__ = "0.1.0"
