"""The YAML configuration: one dataclass per section, validated strictly.

Every key is checked against the dataclass fields, so a misspelled key is an error that lists
the supported keys instead of a silently ignored setting. Relative paths are taken relative to
the working directory the command runs in (the repository root when run through ``make``).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[SEP]")
"""Special tokens, which receive ids 0 to 4 in this order."""

MAX_ARROW_LIST_SIZE = 2**31 - 1
MAX_VOCAB_SIZE = 2**32
MAX_CONFIG_VALUES = 100_000
"""Maximum number of values (mapping entries and list items, counted after YAML aliases are expanded) in a config."""


class ConfigError(ValueError):
    """An invalid configuration file or value; the message names the key and the fix."""


@dataclass(kw_only=True)
class SourceConfig:
    """Location of one corpus: a local path, a download address or a Hugging Face dataset.

    Args:
        path: Local file or folder to read. When ``None`` (default) the source is downloaded
            from ``url`` or from the Hugging Face ``dataset``.
        url: Download address of an archive or dump. Default: the source's public home.
        dataset: Hugging Face dataset name. Default: the source's public dataset, if any.
        hub_config: Hugging Face dataset configuration (subset) name, such as
            ``wikitext-103-raw-v1`` or ``20231101.ja``. Default: the source's own.
        splits: Dataset splits to read. Default: ``["train"]``.
        sha256: Published SHA-256 of the file at ``url``, checked after download. When
            ``None`` (default) the digest of the first complete download is recorded beside
            the file and checked on later use.
        options: Source-specific settings, documented by each reader. Default: empty.
        max_document_bytes: Largest decompressed size of one document file or archive
            member, in bytes. A larger one is rejected with its size, without being read.
            Default: 64 MiB. Enforced by the ``livedoor`` reader.
        max_archive_bytes: Largest decompressed size of a whole archive, in bytes; reading
            stops with an error past it. Default: 64 GiB. Enforced by the ``livedoor`` reader.
    """

    path: Path | None = None
    url: str | None = None
    dataset: str | None = None
    hub_config: str | None = None
    splits: list[str] = field(default_factory=lambda: ["train"])
    sha256: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_document_bytes: int = 64 * 1024**2
    max_archive_bytes: int = 64 * 1024**3


DEFAULT_FILTERS = (
    "fix_mojibake",
    "nfkc",
    "remove_invisible",
    "remove_private_use",
    "normalize_whitespace",
    "remove_url_lines",
    "livedoor_boilerplate",
    "wikitext_leftovers",
    "reject_empty",
    "length",
    "letter_ratio",
    "repeated_lines",
    "repeated_characters",
    "exact_dedup",
)
"""The default cleaning filters: Unicode repair, boilerplate removal, quality rules, exact dedup."""


@dataclass(kw_only=True)
class CleanConfig:
    """Cleaning applied to every document of every source.

    Args:
        filters: Filters in the order they run. Each entry is a filter name, or a mapping of
            one filter name to its options, such as ``{length: {min_characters: 100}}``.
            Default: :data:`DEFAULT_FILTERS`, each with its default options. Near-duplicate
            removal is off unless ``near_dedup`` is listed, such as
            ``{near_dedup: {threshold: 0.8}}``.
    """

    filters: list[Any] = field(default_factory=lambda: list(DEFAULT_FILTERS))


@dataclass(kw_only=True)
class SegmentConfig:
    """MeCab morpheme segmentation, run by the corpus stage after the cleaning filters.

    Segmentation records morpheme boundaries in ``Document.morpheme_ends`` and never changes
    the text. When it is on, the tokenizer stage also keeps every BPE merge inside a morpheme.

    Args:
        mecab: Segment every document with MeCab (``fugashi`` and ``unidic-lite``).
            Default: False.
        max_chunk_characters: Maximum text length handed to MeCab in one call, in characters.
            A longer text goes to MeCab in overlapping windows of this length, which bounds
            MeCab's memory. Default: 20000.
    """

    mecab: bool = False
    max_chunk_characters: int = 20000


@dataclass(kw_only=True)
class TokenizerConfig:
    """Tokenizer training and its quality report.

    Args:
        backend: ``hf_bpe`` (Hugging Face ``tokenizers`` BPE), ``sentencepiece_bpe`` or
            ``sentencepiece_unigram`` (trained by ``sentencepiece``, then converted to
            ``tokenizer.json``). Default: ``hf_bpe``.
        vocab_size: Vocabulary size, special, user-defined and byte tokens included.
            Default: 20000.
        min_frequency: Minimum count of a pair for it to be merged (``hf_bpe`` only). Default: 2.
        pre_tokenizer: ``byte_level`` (GPT-2 style bytes) or ``metaspace`` (spaces become
            ``▁``, unseen characters fall back to byte tokens). Default: ``byte_level`` for
            ``hf_bpe`` and ``metaspace`` for the SentencePiece backends, which support only it.
        extra_special_tokens: Special tokens added after ``[PAD] [UNK] [CLS] [MASK] [SEP]``,
            with ids from 5 in this order. Default: none.
        user_tokens: Tokens that always stay whole and decode as text, such as markup.
            Default: none.
        max_characters: Cap on the characters used for training, sampled deterministically
            from every source by document id. Default: ``None`` (all documents).
        source_weights: Relative share of ``max_characters`` per source. A source without an
            entry has weight 1.0. Default: equal weights.
        holdout_fraction: Share of documents, chosen by a hash of their id, kept out of
            training for the quality report. Default: 0.05.
        report_documents: Held-out documents per source that the quality report encodes.
            Default: 1000.
        batch_size: Documents per batch handed to the trainer. Default: 1000.
    """

    backend: Literal["hf_bpe", "sentencepiece_bpe", "sentencepiece_unigram"] = "hf_bpe"
    vocab_size: int = 20000
    min_frequency: int = 2
    pre_tokenizer: Literal["byte_level", "metaspace"] | None = None
    extra_special_tokens: list[str] = field(default_factory=list)
    user_tokens: list[str] = field(default_factory=list)
    max_characters: int | None = None
    source_weights: dict[str, float] = field(default_factory=dict)
    holdout_fraction: float = 0.05
    report_documents: int = 1000
    batch_size: int = 1000

    @property
    def resolved_pre_tokenizer(self) -> Literal["byte_level", "metaspace"]:
        """The pre-tokenizer in use: the configured one, or the backend's default."""
        if self.pre_tokenizer is not None:
            return self.pre_tokenizer
        return "byte_level" if self.backend == "hf_bpe" else "metaspace"


GlobalMaskPolicy = Literal["cls", "headings", "sep", "sentence_end", "title"]
"""Names of the rules that mark a token as global (attending to and attended by every token)."""


@dataclass(kw_only=True)
class ShardsConfig:
    """Encoding into fixed-length rows, split into train and validation folders.

    Args:
        layout: ``window`` writes one or more padded ``[CLS] ... [SEP]`` rows per document, for
            masked-language models. ``packed`` concatenates documents, each followed by
            ``[SEP]``, into full rows without padding, for causal models. Default: ``window``.
        max_len: Tokens per row, special tokens included. Default: 128.
        global_mask: Global-mask policies, from ``cls`` (the ``[CLS]`` token, window layout
            only), ``headings`` (tokens of every heading line), ``title`` (tokens of level-1
            headings only), ``sep`` (``[SEP]`` tokens) and ``sentence_end`` (tokens ending in
            sentence-final punctuation). Default: ``["cls", "headings"]`` for the window layout,
            ``["headings"]`` for the packed layout.
        validation_fraction: Share of documents, chosen by a hash of the document id, that go
            to the validation split instead of train. Default: 0.01.
        batch_size: Documents per ``encode_batch`` call. Default: 1000.
        rows_per_shard: Rows in one Arrow file before a new one starts. Default: 65536.
        bytes_per_shard: If set, a shard also closes before its token and mask columns would
            exceed this many bytes. Default: no byte limit.
    """

    layout: Literal["window", "packed"] = "window"
    max_len: int = 128
    global_mask: list[GlobalMaskPolicy] | None = None
    validation_fraction: float = 0.01
    batch_size: int = 1000
    rows_per_shard: int = 65536
    bytes_per_shard: int | None = None

    @property
    def policies(self) -> tuple[GlobalMaskPolicy, ...]:
        """The configured global-mask policies, or the layout's default ones."""
        if self.global_mask is not None:
            return tuple(self.global_mask)
        return ("cls", "headings") if self.layout == "window" else ("headings",)


@dataclass(kw_only=True)
class Config:
    """The whole pipeline configuration.

    Args:
        corpora_dir: Folder for downloaded and cleaned corpora. Default: ``corpora``.
        outputs_dir: Folder for the tokenizer and the shards. Default: ``outputs``.
        workers: Worker processes for parallel steps; 0 means one per CPU core. Default: 0.
        sources: Corpora to read, keyed by source name (``livedoor``, ``wikitext``, ``jawiki``).
        clean: Cleaning filters.
        segment: MeCab morpheme segmentation.
        tokenizer: Tokenizer training settings.
        shards: Shard writing settings.
    """

    corpora_dir: Path = Path("corpora")
    outputs_dir: Path = Path("outputs")
    workers: int = 0
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    clean: CleanConfig = field(default_factory=CleanConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    shards: ShardsConfig = field(default_factory=ShardsConfig)

    @property
    def clean_dir(self) -> Path:
        return self.corpora_dir / "clean"

    @property
    def raw_dir(self) -> Path:
        return self.corpora_dir / "raw"

    @property
    def tokenizer_dir(self) -> Path:
        return self.outputs_dir / "tokenizer"

    @property
    def shards_dir(self) -> Path:
        return self.outputs_dir / "shards"


def load_config(path: Path | str) -> Config:
    """Read and validate a YAML configuration file.

    Raises:
        ConfigError: The file is missing, is not YAML, or contains an invalid key or value.
    """
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; pass an existing YAML file with --config") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"config file {path} could not be read as YAML: {error}") from None
    return parse_config(data or {}, origin=str(path))


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key repeated in one mapping instead of keeping the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, typing.Hashable):
                continue  # SafeLoader itself reports an unhashable key.
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; keep one of its values", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _count_values(data: object, origin: str) -> None:
    """Reject configs that hold more than :data:`MAX_CONFIG_VALUES` values once aliases are expanded.

    YAML aliases let a few lines stand for an exponentially large tree (the "billion laughs"
    pattern). Walking the tree with a budget stops it before it costs time or memory.
    """
    budget = MAX_CONFIG_VALUES
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            items = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            items = value
        else:
            continue
        budget -= len(items)
        if budget < 0:
            raise ConfigError(
                f"{origin} contains more than {MAX_CONFIG_VALUES} values once YAML aliases are expanded; "
                "write the settings out without nested aliases"
            )
        stack.extend(items)


def parse_config(data: object, *, origin: str = "config") -> Config:
    """Validate a configuration mapping, as loaded from YAML, into a :class:`Config`."""
    _count_values(data, origin)
    config = _parse_dataclass(Config, data, origin)
    _check_values(config, origin)
    return config


def _check_values(config: Config, origin: str) -> None:
    # Imported here because the source and filter registries import this module.
    from pipeline.filters import build_filters
    from pipeline.sources import SOURCE_NAMES

    for name in config.sources:
        if name not in SOURCE_NAMES:
            raise ConfigError(f"{origin}: unknown source sources.{name}; supported sources: {', '.join(SOURCE_NAMES)}")
        sha256 = config.sources[name].sha256
        if sha256 is not None and not re.fullmatch("[0-9a-f]{64}", sha256):
            raise ConfigError(f"{origin}: sources.{name}.sha256 must be 64 lowercase hex digits, got {sha256!r}")
    try:
        build_filters(config.clean.filters)
    except ConfigError as error:
        raise ConfigError(f"{origin}: {error}") from None
    if config.workers < 0:
        raise ConfigError(f"{origin}: workers must be 0 (one per core) or more, got {config.workers}")
    if config.shards.max_len < 3:
        raise ConfigError(
            f"{origin}: shards.max_len must be at least 3 ([CLS], one token, [SEP]), got {config.shards.max_len}"
        )
    _check_segment(config.segment, origin)
    _check_tokenizer(config, origin)
    _check_shards(config.shards, origin)
    _check_limits(config, origin)


def _check_limits(config: Config, origin: str) -> None:
    if config.shards.max_len > MAX_ARROW_LIST_SIZE:
        raise ConfigError(
            f"{origin}: shards.max_len must be at most {MAX_ARROW_LIST_SIZE} (the Arrow fixed-size list limit), "
            f"got {config.shards.max_len}"
        )
    if config.tokenizer.vocab_size > MAX_VOCAB_SIZE:
        raise ConfigError(
            f"{origin}: tokenizer.vocab_size must be at most {MAX_VOCAB_SIZE} (ids are stored as uint32), "
            f"got {config.tokenizer.vocab_size}"
        )
    if config.tokenizer.batch_size < 1:
        raise ConfigError(f"{origin}: tokenizer.batch_size must be at least 1, got {config.tokenizer.batch_size}")
    for name, source in config.sources.items():
        for key in ("max_document_bytes", "max_archive_bytes"):
            if getattr(source, key) < 1:
                raise ConfigError(f"{origin}: sources.{name}.{key} must be at least 1 byte, got {getattr(source, key)}")
        if not source.splits:
            raise ConfigError(f"{origin}: sources.{name}.splits must list at least one split, such as [train]")


def check_source_paths(config: Config) -> None:
    """Check that every ``sources.<name>.path`` exists, before a run starts reading.

    Raises:
        ConfigError: A path is missing; the message names its key.
    """
    for name, source in config.sources.items():
        if source.path is not None and not source.path.exists():
            raise ConfigError(
                f"sources.{name}.path: {source.path} does not exist (relative paths start at {Path.cwd()}); "
                "fix the path, or remove the key to download the corpus"
            )


def _check_segment(segment: SegmentConfig, origin: str) -> None:
    if segment.max_chunk_characters < 100:
        raise ConfigError(
            f"{origin}: segment.max_chunk_characters must be at least 100, got {segment.max_chunk_characters}"
        )


def _check_tokenizer(config: Config, origin: str) -> None:
    settings = config.tokenizer
    if settings.backend != "hf_bpe" and settings.resolved_pre_tokenizer != "metaspace":
        raise ConfigError(
            f"{origin}: tokenizer.pre_tokenizer {settings.pre_tokenizer!r} is not supported by backend "
            f"{settings.backend}; supported values: metaspace"
        )

    added = [*SPECIAL_TOKENS, *settings.extra_special_tokens, *settings.user_tokens]
    for index, token in enumerate(added):
        if not token:
            raise ConfigError(
                f"{origin}: tokenizer.extra_special_tokens and tokenizer.user_tokens must not contain an empty string"
            )
        if token in added[:index]:
            raise ConfigError(f"{origin}: tokenizer token {token!r} is listed twice among special and user tokens")
    # Every backend keeps 256 byte tokens: byte-level symbols or byte-fallback pieces.
    minimum = len(added) + 256
    if settings.vocab_size < minimum:
        raise ConfigError(
            f"{origin}: tokenizer.vocab_size must be at least {minimum} "
            f"(the special and user tokens and the 256 byte tokens), got {settings.vocab_size}"
        )
    if settings.min_frequency < 1:
        raise ConfigError(f"{origin}: tokenizer.min_frequency must be at least 1, got {settings.min_frequency}")
    if settings.max_characters is not None and settings.max_characters < 1:
        raise ConfigError(
            f"{origin}: tokenizer.max_characters must be at least 1, or null for no cap, got {settings.max_characters}"
        )
    for name, weight in settings.source_weights.items():
        if name not in config.sources:
            raise ConfigError(
                f"{origin}: tokenizer.source_weights.{name} names no configured source; "
                f"configured sources: {', '.join(config.sources) or 'none'}"
            )
        if not weight > 0:
            raise ConfigError(f"{origin}: tokenizer.source_weights.{name} must be greater than 0, got {weight}")
    if not 0 <= settings.holdout_fraction < 1:
        raise ConfigError(
            f"{origin}: tokenizer.holdout_fraction must be at least 0 and below 1, got {settings.holdout_fraction}"
        )
    for key in ("report_documents", "batch_size"):
        if getattr(settings, key) < 1:
            raise ConfigError(f"{origin}: tokenizer.{key} must be at least 1, got {getattr(settings, key)}")


def _check_shards(shards: ShardsConfig, origin: str) -> None:
    for key in ("batch_size", "rows_per_shard", "bytes_per_shard"):
        value = getattr(shards, key)
        if value is not None and value < 1:
            raise ConfigError(f"{origin}: shards.{key} must be at least 1, got {value}")
    if not 0.0 <= shards.validation_fraction <= 1.0:
        raise ConfigError(
            f"{origin}: shards.validation_fraction must be between 0 and 1, got {shards.validation_fraction}"
        )
    if shards.layout == "packed" and "cls" in shards.policies:
        raise ConfigError(
            f"{origin}: shards.global_mask policy cls needs layout window, because packed rows have no [CLS]; "
            "remove cls or set shards.layout: window"
        )


def _parse_dataclass(cls: type, data: object, key: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{key} must be a mapping, got {type(data).__name__} {data!r}")

    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for name in data:
        if name not in fields:
            raise ConfigError(f"{key}: unknown key {name!r}; supported keys: {', '.join(fields)}")

    values = {name: _parse_value(hints[name], value, f"{key}.{name}") for name, value in data.items()}
    return cls(**values)


def _parse_value(hint: Any, value: object, key: str) -> Any:
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        return _parse_value(inner, value, key)
    if dataclasses.is_dataclass(hint):
        return _parse_dataclass(hint, value, key)  # type: ignore[arg-type]
    if origin is Literal:
        if value not in arguments:
            supported = ", ".join(str(argument) for argument in arguments)
            raise ConfigError(f"{key}: invalid value {value!r}; supported values: {supported}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        return [_parse_value(arguments[0], item, f"{key}[{index}]") for index, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {type(value).__name__} {value!r}")
        return {name: _parse_value(arguments[1], item, f"{key}.{name}") for name, item in value.items()}
    if hint is Any:
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key} must be a path string, got {value!r}")
        if "\0" in value:
            raise ConfigError(f"{key} must not contain a NUL character, got {value!r}")
        return Path(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(f"{key} must be of type {hint.__name__}, got {type(value).__name__} {value!r}")
    return value
