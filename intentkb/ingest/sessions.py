"""Sessions in the Amazon-M2 format: `prev_items` like "['B09W9FND7K' 'B09JSPLN1M']", `next_item`, `locale`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator

from ..io.sources import Record, table_records
from ..kb.ids import product_id, session_id
from ..kb.models import Session
from ..kb.store import GraphStore, PreparedWrite
from .base import Reader, plan_rows
from .fields import Locale, RawKey, RawRow, read_key

_QUOTED = re.compile(r"""'([^']*)'|"([^"]*)\"""")


def parse_items(raw: Any) -> list[str]:
    """M2 writes numpy arrays: "['A' 'B']", wrapped over lines when long; JSON lists and real lists pass too."""
    if isinstance(raw, (list, tuple)):
        items = list(raw)
    elif not isinstance(raw, str) and raw is not None:
        raise ValueError(f"prev_items: expected a list, got a {type(raw).__name__}")
    else:
        text = (raw or "").strip()
        if not (text.startswith("[") and text.endswith("]")):
            raise ValueError(f"prev_items: expected a list like ['B09W9FND7K' 'B09JSPLN1M'], got {text[:40]!r}")
        items = [a if a else b for a, b in _QUOTED.findall(text)]
        leftover = _QUOTED.sub("", text[1:-1]).replace(",", " ").strip()
        if leftover:
            raise ValueError(f"prev_items: unquoted text {leftover[:30]!r}")
    if not items:
        raise ValueError("prev_items: empty session")
    out = []
    for i, it in enumerate(items, start=1):  # every item an id by the one id rule (None, NaN: rejects)
        try:
            key = read_key(it)
        except ValueError as e:
            raise ValueError(f"prev_items: item {i}: {e}") from None
        if key is None:
            raise ValueError(f"prev_items: item {i} is empty")
        out.append(key)
    return out


class M2SessionRow(RawRow):
    prev_items: Annotated[list[str], BeforeValidator(parse_items)]
    next_item: RawKey = None
    locale: Locale = None
    session_id: RawKey = None
    id: RawKey = None


@dataclass
class SessionUnit:
    """A validated unit of work (its parts are pydantic models already; no second validation)."""

    session: Session
    items: list[str]  # product ids in viewing order
    asins: list[str]

    def row(self) -> dict[str, Any]:
        props = self.session.props()
        props.pop("id")
        loc = self.session.locale
        return {
            "id": self.session.id,
            "props": props,
            "items": [{"pos": i + 1, "product": pid, "asin": a, "locale": loc} for i, (pid, a) in enumerate(zip(self.items, self.asins))],
            "viewed": [f"{i + 1}|{pid}" for i, pid in enumerate(self.items)],
        }


def plan_sessions(store: GraphStore, units: list[SessionUnit]) -> list[PreparedWrite]:
    return plan_rows(store, "ingest_sessions", units)


class M2SessionsReader(Reader[SessionUnit]):
    kind = "sessions"
    format = "m2"
    required = ("prev_items",)
    query = "ingest_sessions"

    def records(self, path: Path) -> Iterator[Record]:
        return table_records(path, self.required)

    def key(self, unit: SessionUnit) -> str:
        return unit.session.id

    def convert(self, raw: dict[str, Any]) -> SessionUnit:
        r = M2SessionRow.model_validate(raw)
        asins, locale, nxt = r.prev_items, r.locale, r.next_item
        explicit = r.session_id if r.session_id is not None else r.id
        sid = explicit if explicit is not None else session_id(locale, asins, nxt)
        session = Session(id=sid, locale=locale, length=len(asins), next_item=product_id(nxt, locale) if nxt else None, source="amazon-m2")
        return SessionUnit(session=session, items=[product_id(a, locale) for a in asins], asins=asins)
