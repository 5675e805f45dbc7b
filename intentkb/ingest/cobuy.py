"""Co-buy intentions: MIND/FolkScope paired-row CSV and IntentionQA JSONL."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..io.rejects import explain
from ..io.sources import BadLine, Record, csv_header, csv_records, jsonl_records
from ..kb.ids import cobuy_intention_id, product_id
from ..kb.models import Intention, Product, Relation, clean_text
from .base import Reader
from .fields import Key, Number, RawRow, RawText, RequiredText


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
    reason = _REASON_LEAD.sub("", text[m.end() :].strip()).strip() or None
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
    shared_nodes = ("a", "b")

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
        try:
            r = MindRecord.model_validate(raw)
        except ValidationError as e:  # say which of the row's records it was
            raise ValueError(f"record {raw.get('_record')}: {explain(e)}") from None

        def product(side: str) -> Product:
            asin = getattr(r, f"id_{side}")
            return Product(
                id=product_id(asin),
                asin=asin,
                title=getattr(r, f"Product_{side}"),
                features=getattr(r, f"product_{side}_desc"),
                category=getattr(r, f"item_{side}_cate") or r.Cate,
                image_urls=[u for u in (getattr(r, f"item_{side}_img{i}_url") for i in (1, 2, 3)) if u],
                url=getattr(r, f"item_{side}_link"),
                source="folkscope-mind",
            )

        a, b = product("a"), product("b")
        relation = Relation.parse(r.Relation)
        accepted, reason = parse_filter_answer(r.Agreement)
        intention = Intention(
            id=cobuy_intention_id(a.id, b.id, relation.value, r.Intention),
            text=r.Intention,
            kind="cobuy",
            relation=relation,
            assertion=r.tail,
            accepted=accepted,
            filter_reason=reason,
            source="folkscope-mind",
        )
        return CobuyUnit(a=a, b=b, intention=intention)


class MindRecord(RawRow):
    """One of the records of a FolkScope row (its `_N` columns, suffix removed)."""

    id_a: Key
    id_b: Key
    Relation: RequiredText
    Intention: RequiredText
    Product_a: RawText = None
    Product_b: RawText = None
    product_a_desc: RawText = None
    product_b_desc: RawText = None
    item_a_cate: RawText = None
    item_b_cate: RawText = None
    Cate: RawText = None
    Agreement: RawText = None
    tail: RawText = None
    item_a_link: RawText = None
    item_b_link: RawText = None
    item_a_img1_url: RawText = None
    item_a_img2_url: RawText = None
    item_a_img3_url: RawText = None
    item_b_img1_url: RawText = None
    item_b_img2_url: RawText = None
    item_b_img3_url: RawText = None


class IntentionQARow(RawRow):
    item_a_id: Key
    item_b_id: Key
    relation: RequiredText
    assertion: RequiredText
    item_a_name: RawText = None
    item_b_name: RawText = None
    typicality: Number = None


class IntentionQAReader(Reader[CobuyUnit]):
    """IntentionQA JSONL: the gold assertion of each question is a co-buy intention of the pair."""

    kind = "cobuy"
    format = "intentionqa"
    required = ("item_a_id", "item_b_id", "relation", "assertion")
    query = "ingest_cobuy"
    shared_nodes = ("a", "b")

    def records(self, path: Path) -> Iterator[Record]:
        return jsonl_records(path, self.required)

    def convert(self, raw: dict[str, Any]) -> CobuyUnit:
        if not isinstance(raw, dict):
            raise ValueError("expected a JSON object")
        r = IntentionQARow.model_validate(raw)
        a = Product(id=product_id(r.item_a_id), asin=r.item_a_id, title=r.item_a_name, source="intentionqa")
        b = Product(id=product_id(r.item_b_id), asin=r.item_b_id, title=r.item_b_name, source="intentionqa")
        relation = Relation.parse(r.relation)
        intention = Intention(
            id=cobuy_intention_id(a.id, b.id, relation.value, r.assertion),
            text=r.assertion,
            kind="cobuy",
            relation=relation,
            assertion=r.assertion,
            typicality=r.typicality,
            source="intentionqa",
        )
        return CobuyUnit(a=a, b=b, intention=intention)
