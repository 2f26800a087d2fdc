"""Cleaning filters, looked up by the names used in the ``clean.filters`` config list."""

from __future__ import annotations

import inspect
from typing import Any

from pipeline.config import ConfigError
from pipeline.filters.base import Filter, FilterStats, Reject, RejectSink
from pipeline.filters.boilerplate import LivedoorBoilerplateFilter, RemoveUrlLinesFilter, WikiTextLeftoversFilter
from pipeline.filters.dedup import ExactDedupFilter, NearDedupFilter
from pipeline.filters.quality import LengthFilter, LetterRatioFilter, RepeatedCharactersFilter, RepeatedLinesFilter
from pipeline.filters.unicode import (
    FixMojibakeFilter,
    NFKCFilter,
    NormalizeWhitespaceFilter,
    RejectEmptyFilter,
    RemoveInvisibleFilter,
    RemovePrivateUseFilter,
)

FILTERS: dict[str, type[Filter]] = {
    cls.name: cls
    for cls in (
        FixMojibakeFilter,
        NFKCFilter,
        RemoveInvisibleFilter,
        RemovePrivateUseFilter,
        NormalizeWhitespaceFilter,
        RemoveUrlLinesFilter,
        LivedoorBoilerplateFilter,
        WikiTextLeftoversFilter,
        RejectEmptyFilter,
        LengthFilter,
        LetterRatioFilter,
        RepeatedLinesFilter,
        RepeatedCharactersFilter,
        ExactDedupFilter,
        NearDedupFilter,
    )
}

__all__ = ["FILTERS", "Filter", "FilterStats", "Reject", "RejectSink", "build_filters"]


def build_filters(entries: list[Any]) -> list[Filter]:
    """Instantiate filters from ``clean.filters`` entries, in order.

    Each entry is a filter name or a one-key mapping ``{name: {option: value}}``.

    Raises:
        ConfigError: An entry names an unknown filter or passes an unknown or invalid option.
    """
    filters = []
    for index, entry in enumerate(entries):
        options: object
        if isinstance(entry, str):
            name, options = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            ((name, options),) = entry.items()
            options = options or {}
        else:
            raise ConfigError(f"clean.filters[{index}] must be a filter name or {{name: {{options}}}}, got {entry!r}")

        if name not in FILTERS:
            raise ConfigError(
                f"clean.filters[{index}]: unknown filter {name!r}; supported filters: {', '.join(FILTERS)}"
            )
        if not isinstance(options, dict):
            raise ConfigError(f"clean.filters[{index}].{name} options must be a mapping, got {options!r}")

        cls = FILTERS[name]
        supported = [parameter for parameter in inspect.signature(cls.__init__).parameters if parameter != "self"]
        unknown = [option for option in options if option not in supported]
        if unknown:
            raise ConfigError(
                f"clean.filters[{index}].{name}: unknown option {unknown[0]!r}; "
                f"supported options: {', '.join(supported) or 'none'}"
            )
        try:
            filters.append(cls(**options))
        except ValueError as error:
            raise ConfigError(f"clean.filters[{index}].{name}: {error}") from None
    return filters
