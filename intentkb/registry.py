"""One shape for every extension point (engines, benchmarks, pipelines, export formats, reply
formats, embedders): entries named by import path and loaded on first use, plus whatever installed
packages declare under the registry's entry-point group, the way pytest and lm-evaluation-harness
find plugins. A third party adds a benchmark from its own package with, in its pyproject.toml:

    [project.entry-points."intentkb.benchmarks"]
    mybench = "mypkg.bench:BENCHMARK"

An entry is `"module"` (importing it registers what it defines) or `"module:object"` (that object
is registered). Listings keep the order of the built-in entries, then the plugins' by name."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from types import MappingProxyType, ModuleType
from typing import Any, Generic, TypeVar

from .errors import IntentKBError

T = TypeVar("T")
NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")  # a name a command line and a file name can carry
log = logging.getLogger(__name__)


def load_entry(target: str) -> Any:
    """The module `target` names, or the object of `"module:object"`."""
    module, _, name = target.partition(":")
    loaded: Any = import_module(module)
    for part in name.split(".") if name else ():
        loaded = getattr(loaded, part)
    return loaded


@cache
def plugin_entries(group: str) -> dict[str, str]:
    """name -> "module[:object]" of every installed package's entry points in `group` (read once a
    process: opening a store or reading a template must not scan the installed packages each time)."""
    return {ep.name: ep.value for ep in sorted(entry_points(group=group), key=lambda e: e.name)}


class Registry(Generic[T]):
    def __init__(
        self,
        what: str,
        modules: tuple[str, ...],
        name_of: Callable[[T], str],
        module_of: Callable[[T], str],
        group: str | None = None,
        check: Callable[[T, Mapping[str, T]], None] | None = None,
    ) -> None:
        """`check(item, registered)`: raise IntentKBError when `item` cannot join those registered."""
        self.what, self.modules, self.name_of, self.module_of, self.group, self.check = what, modules, name_of, module_of, group, check
        self._items: dict[str, T] = {}
        self._view: Mapping[str, T] | None = None  # the ordered listing, made once (items are validated against it)

    def register(self, item: T) -> T:
        name = self.name_of(item)
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise IntentKBError(f"{self.what} name {name!r}: lower-case letters, digits, '_' and '-', starting with a letter")
        if name in self._items and self._items[name] is not item:
            raise IntentKBError(f"{self.what} {name!r} is registered twice")
        if self.check is not None and name not in self._items:
            self.check(item, self._items)
        self._items[name] = item
        self._view = None
        return item

    def unregister(self, name: str) -> None:
        """For tests that register something of their own."""
        self._items.pop(name, None)
        self._view = None

    def _load(self, target: str) -> None:
        loaded = load_entry(target)
        if not isinstance(loaded, ModuleType):
            self.register(loaded)

    def all(self) -> Mapping[str, T]:
        if self._view is None:
            for target in self.modules:
                self._load(target)
            for name, target in plugin_entries(self.group).items() if self.group else ():
                try:
                    self._load(target)
                except Exception as e:  # a broken plugin must not take the built-in entries down with it
                    log.warning("%s plugin %r (%s) was not loaded: %s", self.what, name, target, e)
            order = {m.partition(":")[0]: i for i, m in enumerate(self.modules)}
            ranked = sorted(enumerate(self._items.items()), key=lambda e: (order.get(self.module_of(e[1][1]), len(order)), e[0]))
            self._view = MappingProxyType({name: item for _, (name, item) in ranked})
        return self._view

    def get(self, name: str) -> T:
        if self._view is None:  # a built-in entry is found without scanning the installed packages (~15 ms a group)
            for target in self.modules:
                self._load(target)
            if name in self._items and self.module_of(self._items[name]).startswith("intentkb."):
                return self._items[name]
        everything = self.all()
        found = everything.get(name)
        if found is None:
            raise IntentKBError(f"no {self.what} {name!r}: one of {', '.join(everything)}")
        return found
