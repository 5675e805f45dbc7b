"""Sessions in the Amazon-M2 format: `prev_items` like "['B09W9FND7K' 'B09JSPLN1M']", `next_item`, `locale`."""

from __future__ import annotations

from dataclasses import dataclass

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any


from ..kb.ids import product_id, session_id
from ..kb.models import Session, clean_text
from ..kb.store import GraphStore, PreparedWrite
from .base import Reader, plan_rows
from .sources import Record, table_records

_QUOTED = re.compile(r"""'([^']*)'|"([^"]*)\"""")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")


def parse_items(raw: Any) -> list[str]:
    """M2 writes numpy arrays: "['A' 'B']", wrapped over lines when long; JSON lists and real lists pass too."""
    if isinstance(raw, (list, tuple)):
        items = [str(x).strip() for x in raw]
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
    for it in items:
        if not _TOKEN.match(it):
            raise ValueError(f"prev_items: not a product id: {it[:30]!r}")
    return items


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
        asins = parse_items(raw.get("prev_items"))
        locale = clean_text(raw.get("locale"))
        locale = locale.upper() if locale else None
        nxt = clean_text(raw.get("next_item"))
        if nxt is not None and not _TOKEN.match(nxt):
            raise ValueError(f"next_item: not a product id: {nxt[:30]!r}")
        explicit = clean_text(raw.get("session_id") if raw.get("session_id") is not None else raw.get("id"))
        sid = str(explicit) if explicit is not None else session_id(locale, asins, nxt)
        session = Session(id=sid, locale=locale, length=len(asins), next_item=product_id(nxt, locale) if nxt else None, source="amazon-m2")
        return SessionUnit(session=session, items=[product_id(a, locale) for a in asins], asins=asins)
