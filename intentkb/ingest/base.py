"""The reader contract and the pieces every reader shares."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from ..io.sources import Record
from ..kb.ids import attribute_id
from ..kb.models import Attribute, clean_text
from ..kb.store import GraphStore, PreparedWrite

U = TypeVar("U")


class Reader(ABC, Generic[U]):
    """Turns one external format into units, each written whole in one batch query."""

    kind: ClassVar[str]
    format: ClassVar[str]
    required: ClassVar[tuple[str, ...]]
    record_name: ClassVar[str] = "rows"
    query: ClassVar[str] = ""  # the named query that writes a batch of `unit.row()`s

    @abstractmethod
    def records(self, path: Path) -> Iterator[Record]: ...

    @abstractmethod
    def convert(self, raw: Any) -> U:
        """Validated unit, or ValueError / ValidationError: the reason the row is rejected."""

    # Keys of the `{id, props}` nodes in a unit's row that other rows of a batch may repeat
    # (co-buy products, a purchase intention's product): merged in file order by `later_wins`.
    shared_nodes: ClassVar[tuple[str, ...]] = ()

    def plan(self, store: GraphStore, units: list[U]) -> list[PreparedWrite]:
        """The writes for a batch of units, encoded and ready to send (each one atomic)."""
        return plan_rows(store, self.query, units, self.shared_nodes)

    def records_in(self, raw: str) -> int:
        """How many records a line that could not be parsed stood for (a MIND row holds two)."""
        return 1

    def size(self, unit: U) -> int:
        """Weight of a unit in a batch (a tree weighs its node count)."""
        return 1

    def key(self, unit: U) -> str | None:
        """The node a unit writes under its natural id, when the file may repeat it with other
        values: a repeat starts a new batch, so the later record wins on every engine (FalkorDB
        keeps the first of two MERGE + SET rows of one UNWIND)."""
        return None


def later_wins(rows: list[dict[str, Any]], paths: tuple[str, ...]) -> list[dict[str, Any]]:
    """Within one batch, give every occurrence of a node (`{id, props}` under each of `paths`) the
    properties of all its occurrences merged in file order, the later winning per field. FalkorDB
    keeps the first of two MERGE + SET rows of one UNWIND; with this, both engines keep the later."""
    merged: dict[str, dict[str, Any]] = {}
    repeated = False
    for row in rows:
        for p in paths:
            node = row[p]
            repeated = repeated or node["id"] in merged
            merged.setdefault(node["id"], {}).update(node["props"])
    if not repeated:
        return rows
    return [{**row, **{p: {"id": row[p]["id"], "props": merged[row[p]["id"]]} for p in paths}} for row in rows]


def plan_rows(store: GraphStore, query: str, units: list[Any], shared: tuple[str, ...] = ()) -> list[PreparedWrite]:
    """One `UNWIND $rows` write of the units' rows (nothing for no units); nodes under `shared`
    that several rows repeat are merged first (`later_wins`)."""
    if not units:
        return []
    rows = [u.row() for u in units]
    return [store.prepare_write(query, {"rows": later_wins(rows, shared) if shared else rows})]


def attribute(name: Any, value: Any) -> Attribute | None:
    """`name: value` pair as an Attribute node; None when either side is empty."""
    name, value = clean_text(name), clean_text(value)
    if not name or not value:
        return None
    return Attribute(id=attribute_id(name, value), name=name.lower(), value=value)


def attribute_rows(attrs: list[Attribute]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for a in attrs:
        seen.setdefault(a.id, {"id": a.id, "name": a.name, "value": a.value})
    return list(seen.values())


def loads_list(raw: Any) -> list[Any] | None:
    """A JSON list given as text or as a list."""
    if raw is None or isinstance(raw, list):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"expected a JSON list: {e}") from e
    if not isinstance(value, list):
        raise ValueError("expected a JSON list")
    return value
