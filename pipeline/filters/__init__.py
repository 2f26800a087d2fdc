"""Cleaning filters, looked up by the names used in the ``clean.filters`` config list."""

from __future__ import annotations

from typing import Any

from pipeline.config import ConfigError
from pipeline.filters.base import Filter, FilterStats, Reject, RejectSink
from pipeline.filters.unicode import NFKCFilter, NormalizeWhitespaceFilter, RejectEmptyFilter, RemoveInvisibleFilter

FILTERS: dict[str, type[Filter]] = {
    cls.name: cls for cls in (NFKCFilter, RemoveInvisibleFilter, NormalizeWhitespaceFilter, RejectEmptyFilter)
}

__all__ = ["FILTERS", "Filter", "FilterStats", "Reject", "RejectSink", "build_filters"]


def build_filters(entries: list[Any]) -> list[Filter]:
    """Instantiate filters from ``clean.filters`` entries, in order.

    Each entry is a filter name or a one-key mapping ``{name: {keyword: value}}``.
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
        try:
            filters.append(FILTERS[name](**options))
        except TypeError as error:
            raise ConfigError(f"clean.filters[{index}].{name}: invalid options {options!r}: {error}") from None
    return filters
