"""The YAML configuration: one dataclass per section, validated strictly.

Every key is checked against the dataclass fields, so a misspelled key is an error that lists
the supported keys instead of a silently ignored setting. Relative paths are taken relative to
the working directory the command runs in (the repository root when run through ``make``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[SEP]")
"""Special tokens, which receive ids 0 to 4 in this order."""


class ConfigError(ValueError):
    """An invalid configuration file or value; the message names the key and the fix."""


@dataclass(kw_only=True)
class SourceConfig:
    """Where one corpus comes from.

    Args:
        path: Local file or folder to read. When ``None`` (default) the source is downloaded
            from ``url`` or from the Hugging Face ``dataset``.
        url: Download address of an archive or dump. Default: the source's public home.
        dataset: Hugging Face dataset name. Default: the source's public dataset, if any.
        hub_config: Hugging Face dataset configuration (subset) name, such as
            ``wikitext-103-raw-v1`` or ``20231101.ja``. Default: the source's own.
        splits: Dataset splits to read. Default: ``["train"]``.
        options: Source-specific settings, documented by each reader. Default: empty.
    """

    path: Path | None = None
    url: str | None = None
    dataset: str | None = None
    hub_config: str | None = None
    splits: list[str] = field(default_factory=lambda: ["train"])
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class CleanConfig:
    """Cleaning applied to every document of every source.

    Args:
        filters: Filters in the order they run. Each entry is a filter name, or a mapping of
            one filter name to its keyword arguments. Default: the Unicode filters and the
            empty-document filter.
    """

    filters: list[Any] = field(
        default_factory=lambda: ["nfkc", "remove_invisible", "normalize_whitespace", "reject_empty"]
    )


@dataclass(kw_only=True)
class TokenizerConfig:
    """Byte-level BPE training.

    Args:
        vocab_size: Vocabulary size, special tokens and the 256 byte symbols included.
            Default: 20000.
        min_frequency: Minimum count of a pair for it to be merged. Default: 2.
        batch_size: Documents per batch handed to the trainer. Default: 1000.
    """

    vocab_size: int = 20000
    min_frequency: int = 2
    batch_size: int = 1000


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
        tokenizer: Tokenizer training settings.
        shards: Shard writing settings.
    """

    corpora_dir: Path = Path("corpora")
    outputs_dir: Path = Path("outputs")
    workers: int = 0
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    clean: CleanConfig = field(default_factory=CleanConfig)
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
        ConfigError: The file is missing, is not YAML, or holds an invalid key or value.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; pass an existing YAML file with --config") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"config file {path} could not be read as YAML: {error}") from None
    return parse_config(data or {}, origin=str(path))


def parse_config(data: object, *, origin: str = "config") -> Config:
    """Validate a configuration mapping, as loaded from YAML, into a :class:`Config`."""
    config = _parse_dataclass(Config, data, origin)
    _check_values(config, origin)
    return config


def _check_values(config: Config, origin: str) -> None:
    # Imported here because the source registry imports this module.
    from pipeline.sources import SOURCE_NAMES

    for name in config.sources:
        if name not in SOURCE_NAMES:
            raise ConfigError(f"{origin}: unknown source sources.{name}; supported sources: {', '.join(SOURCE_NAMES)}")
    if config.workers < 0:
        raise ConfigError(f"{origin}: workers must be 0 (one per core) or more, got {config.workers}")
    if config.shards.max_len < 3:
        raise ConfigError(
            f"{origin}: shards.max_len must be at least 3 ([CLS], one token, [SEP]), got {config.shards.max_len}"
        )
    if config.tokenizer.vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ConfigError(
            f"{origin}: tokenizer.vocab_size must be at least {len(SPECIAL_TOKENS) + 256} "
            f"(the special tokens and the 256 byte symbols), got {config.tokenizer.vocab_size}"
        )
    _check_shards(config.shards, origin)


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
        return Path(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(f"{key} must be of type {hint.__name__}, got {type(value).__name__} {value!r}")
    return value
