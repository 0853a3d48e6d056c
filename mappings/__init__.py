"""Local → national mappings: one per source schema, found by name (the `mapping` key of
a source in the config). A mapping is pure: `map_row(row, ctx)` returns a `MapResult`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from adapters.base import SourceRow
from bridge.errors import ConfigError
from mappings.result import MapContext, MapResult

# name → module holding `map_row`; modules are imported on first use.
_MODULES: dict[str, str] = {"zhiyuanyun": "mappings.zhiyuanyun",
                            "taiwan_sheets": "mappings.taiwan_sheets",
                            "shegong": "mappings.shegong"}


class Mapping(Protocol):
    def map_row(self, row: SourceRow, ctx: MapContext) -> MapResult: ...


@dataclass(frozen=True)
class FunctionMapping:
    """A mapping made of a module's `map_row` function."""

    name: str
    fn: Callable[[SourceRow, MapContext], MapResult]

    def map_row(self, row: SourceRow, ctx: MapContext) -> MapResult:
        return self.fn(row, ctx)


def names() -> tuple[str, ...]:
    """The mapping names a source may use."""
    return tuple(sorted(_MODULES))


def get(name: str) -> Mapping:
    """The mapping called `name`; ConfigError for a name no mapping has."""
    module = _MODULES.get(name)
    if module is None:
        known = ", ".join(names())
        raise ConfigError(f"no mapping named {name!r} (known: {known})")
    fn: Callable[[SourceRow, MapContext], MapResult] = importlib.import_module(module).map_row
    return FunctionMapping(name, fn)
