"""One shape for every extension point (benchmarks, generation pipelines, export formats): things
registered by name from their own modules, which are imported on first use, and listed in the
order of those modules whoever imported one first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from types import MappingProxyType
from typing import Generic, TypeVar

from .errors import IntentKBError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, modules: tuple[str, ...], name_of: Callable[[T], str], module_of: Callable[[T], str]) -> None:
        self.what, self.modules, self.name_of, self.module_of = what, modules, name_of, module_of
        self._items: dict[str, T] = {}
        self._view: Mapping[str, T] | None = None  # the ordered listing, made once (items are validated against it)

    def register(self, item: T) -> T:
        name = self.name_of(item)
        if name in self._items and self._items[name] is not item:
            raise IntentKBError(f"{self.what} {name!r} is registered twice")
        self._items[name] = item
        self._view = None
        return item

    def unregister(self, name: str) -> None:
        """For tests that register something of their own."""
        self._items.pop(name, None)
        self._view = None

    def all(self) -> Mapping[str, T]:
        if self._view is None:
            for module in self.modules:
                import_module(module)
            order = {m: i for i, m in enumerate(self.modules)}
            ranked = sorted(enumerate(self._items.items()), key=lambda e: (order.get(self.module_of(e[1][1]), len(order)), e[0]))
            self._view = MappingProxyType({name: item for _, (name, item) in ranked})
        return self._view

    def get(self, name: str) -> T:
        everything = self.all()
        found = everything.get(name)
        if found is None:
            raise IntentKBError(f"no {self.what} {name!r}: one of {', '.join(everything)}")
        return found
