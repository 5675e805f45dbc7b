"""Co-buy intentions: MIND/FolkScope paired-row CSV and IntentionQA JSONL."""

from __future__ import annotations

from dataclasses import dataclass

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..kb.ids import cobuy_intention_id, product_id
from ..kb.models import Intention, Product, Relation, clean_text
from .base import Reader
from .sources import BadLine, Record, csv_header, csv_records, jsonl_records


@dataclass
class CobuyUnit:
    """A validated unit of work (its parts are pydantic models already; no second validation)."""

    a: Product
    b: Product
    intention: Intention

    def __post_init__(self) -> None:
        if self.a.id == self.b.id:
            raise ValueError(f"item a and item b are the same product ({self.a.id})")

    def row(self) -> dict[str, Any]:
        def split(node: BaseModel) -> dict[str, Any]:
            props = node.props()  # type: ignore[attr-defined]
            return {"id": props.pop("id"), "props": props}

        return {"a": split(self.a), "b": split(self.b), "intention": split(self.intention)}


_VERDICT = re.compile(r"^\W*(yes|no)\b[\s.,:;!-]*", re.IGNORECASE)
_REASON_LEAD = re.compile(r"^(the )?reason (for|behind) (this|my) (answer|choice) is (that )?", re.IGNORECASE)


def parse_filter_answer(raw: Any) -> tuple[bool | None, str | None]:
    """Role-aware filter output "Yes, …" / "No.\\n\\nThe reason …" → (accepted, reason)."""
    text = clean_text(raw)
    if not text:
        return None, None
    m = _VERDICT.match(text)
    if not m:
        return None, text
    reason = _REASON_LEAD.sub("", text[m.end():].strip()).strip() or None
    if reason:
        reason = reason[0].upper() + reason[1:]
    return m.group(1).lower() == "yes", reason


class MindCsvReader(Reader[CobuyUnit]):
    """FolkScope crowdsourcing CSVs: every row holds two records (columns ending `_1` and `_2`)."""

    kind = "cobuy"
    format = "mind"
    required = ("id_a_1", "id_b_1", "Relation_1", "Intention_1")
    query = "ingest_cobuy"
    record_name = "records"

    def __init__(self) -> None:
        self.per_row = 1

    def records_in(self, raw: str) -> int:
        return self.per_row

    def records(self, path: Path) -> Iterator[Record]:
        rows = csv_records(path, self.required)
        first = next(rows, None)  # the format checks run here, then the header is known
        self.per_row = len({k.rsplit("_", 1)[1] for k in csv_header(path) if re.fullmatch(r"id_a_\d+", k)}) or 1
        if first is None:
            return
        for line, row in itertools.chain([first], rows):
            if isinstance(row, BadLine):
                yield line, row
                continue
            suffixes = sorted({k.rsplit("_", 1)[1] for k in row if re.search(r"_\d+$", k) and k.startswith("id_a_")})
            for s in suffixes:
                rec = {k[: -len(s) - 1]: v for k, v in row.items() if k.endswith(f"_{s}")}
                rec["_record"] = int(s)
                yield line, rec

    def convert(self, raw: dict[str, Any]) -> CobuyUnit:
        def product(side: str) -> Product:
            asin = clean_text(raw.get(f"id_{side}"))
            if not asin:
                raise ValueError(f"record {raw.get('_record')}: id_{side}: must not be empty")
            return Product(
                id=product_id(asin),
                asin=asin,
                title=raw.get(f"Product_{side}"),
                features=raw.get(f"product_{side}_desc"),
                category=clean_text(raw.get(f"item_{side}_cate")) or clean_text(raw.get("Cate")),
                image_urls=[raw.get(f"item_{side}_img{i}_url") for i in (1, 2, 3) if raw.get(f"item_{side}_img{i}_url")],
                url=raw.get(f"item_{side}_link"),
                source="folkscope-mind",
            )

        a, b = product("a"), product("b")
        relation = Relation.parse(str(raw.get("Relation") or ""))
        text = clean_text(raw.get("Intention"))
        if not text:
            raise ValueError(f"record {raw.get('_record')}: Intention: must not be empty")
        accepted, reason = parse_filter_answer(raw.get("Agreement"))
        intention = Intention(
            id=cobuy_intention_id(a.id, b.id, relation.value, text),
            text=text,
            kind="cobuy",
            relation=relation,
            assertion=raw.get("tail"),
            accepted=accepted,
            filter_reason=reason,
            source="folkscope-mind",
        )
        return CobuyUnit(a=a, b=b, intention=intention)


class IntentionQAReader(Reader[CobuyUnit]):
    """IntentionQA JSONL: the gold assertion of each question is a co-buy intention of the pair."""

    kind = "cobuy"
    format = "intentionqa"
    required = ("item_a_id", "item_b_id", "relation", "assertion")
    query = "ingest_cobuy"

    def records(self, path: Path) -> Iterator[Record]:
        return jsonl_records(path, self.required)

    def convert(self, raw: dict[str, Any]) -> CobuyUnit:
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
        ids = [clean_text(raw.get(k)) for k in ("item_a_id", "item_b_id")]
        for k, v in zip(("item_a_id", "item_b_id"), ids):
            if not v or not isinstance(v, str):
                raise ValueError(f"{k}: must be a non-empty string")
        a = Product(id=product_id(ids[0]), asin=ids[0], title=raw.get("item_a_name"), source="intentionqa")
        b = Product(id=product_id(ids[1]), asin=ids[1], title=raw.get("item_b_name"), source="intentionqa")
        relation = Relation.parse(str(raw.get("relation") or ""))
        text = clean_text(raw.get("assertion"))
        if not text:
            raise ValueError("assertion: must not be empty")
        intention = Intention(
            id=cobuy_intention_id(a.id, b.id, relation.value, text),
            text=text,
            kind="cobuy",
            relation=relation,
            assertion=text,
            typicality=raw.get("typicality"),
            source="intentionqa",
        )
        return CobuyUnit(a=a, b=b, intention=intention)
