"""Intention trees (SessionIntentBench) in intentkb's JSONL format, one session per line.

    {"session_id": "s1", "locale": "UK",                      # session_id optional
     "products": [{"id": "B0..", "title": "...", "category": "...",
                   "attributes": [{"name": "color", "value": "white"}]}, ...],   # in viewing order
     "intentions": [                                           # roots: the step-1 hypotheses
        {"text": "...", "attribute": "color: white", "rationale": "price: under $20",
         "comparison": null,                                   # C_t exists from step 2 on
         "children": [{"text": "...", "attribute": {"name": "size", "value": "M"},
                       "comparison": {"aspect": "price", "text": "cheaper than ..."}, "children": []}]}],
     "model": "gpt-4o-mini", "prompt_version": "sib-tree-v1"}

A node at depth t (roots are t = 1) is the intention at step t and is formed AT products[t-1].
Product ids are graph ids verbatim (`UK:B0…` for Amazon-M2 products loaded with a locale).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..kb.ids import attribute_id, session_id, session_intention_id
from ..kb.models import Attribute, Id, OptText, Product, Session, Text
from ..kb.store import GraphStore, WriteStats
from .base import Reader
from .products import ProductUnit, write_products
from .sessions import SessionUnit, write_sessions
from .sources import Record, jsonl_records


def _split_pair(v: Any, first: str, second: str) -> Any:
    """'name: value' text → {'name': ..., 'value': ...}; maps pass through."""
    if isinstance(v, str):
        head, sep, tail = v.partition(":")
        if not sep:
            return {first: None, second: v} if first == "aspect" else v
        return {first: head, second: tail}
    return v


class TreeAttribute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text
    value: Text

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, v: Any) -> Any:
        out = _split_pair(v, "name", "value")
        if isinstance(out, str):
            raise ValueError(f"attribute {out[:40]!r} is not 'name: value'")
        return out

    def node(self) -> Attribute:
        return Attribute(id=attribute_id(self.name, self.value), name=self.name.lower(), value=self.value)


class TreeComparison(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aspect: OptText = None
    text: Text

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, v: Any) -> Any:
        return _split_pair(v, "aspect", "text")


class TreeNode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text
    attribute: TreeAttribute | None = None
    rationale: OptText = None
    comparison: TreeComparison | None = None
    children: list["TreeNode"] = Field(default_factory=list)

    def depth(self) -> int:
        return 1 + max((c.depth() for c in self.children), default=0)

    def count(self) -> int:
        return 1 + sum(c.count() for c in self.children)


class TreeProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Id
    title: OptText = None
    category: OptText = None
    attributes: list[TreeAttribute] = Field(default_factory=list)


class TreeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: OptText = None
    locale: OptText = None
    products: list[TreeProduct] = Field(min_length=1)
    intentions: list[TreeNode] = Field(min_length=1)
    model: OptText = None
    prompt_version: OptText = None
    source: OptText = None

    @field_validator("session_id", mode="before")
    @classmethod
    def _sid_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    @model_validator(mode="after")
    def _fits_session(self) -> "TreeRecord":
        depth = max(n.depth() for n in self.intentions)
        if depth > len(self.products):
            raise ValueError(f"tree is {depth} steps deep but the session has {len(self.products)} products")
        return self

    def resolved_session_id(self) -> str:
        return self.session_id or session_id(self.locale, [p.id for p in self.products], None)


class TreeUnit(BaseModel):
    record: TreeRecord
    session: str
    nodes: int

    def product_units(self) -> list[ProductUnit]:
        out = []
        for p in self.record.products:
            asin = p.id.rsplit(":", 1)[-1]
            product = Product(id=p.id, asin=asin, title=p.title, category=p.category)
            out.append(ProductUnit(product=product, attributes=[a.node() for a in p.attributes]))
        return out

    def session_unit(self) -> SessionUnit:
        rec = self.record
        s = Session(id=self.session, locale=rec.locale, length=len(rec.products), source=rec.source)
        return SessionUnit(session=s, items=[p.id for p in rec.products], asins=[p.id.rsplit(":", 1)[-1] for p in rec.products])

    def intention_rows(self, attributes: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
        """Parent before child; each row carries what its node's edges need."""
        rec = self.record
        common = {k: v for k, v in (("model", rec.model), ("prompt_version", rec.prompt_version), ("source", rec.source)) if v}
        rows: list[dict[str, Any]] = []
        stack: list[tuple[TreeNode, tuple[int, ...], str | None]] = [
            (n, (i,), None) for i, n in reversed(list(enumerate(rec.intentions)))
        ]
        while stack:
            node, path, parent = stack.pop()
            nid = session_intention_id(self.session, path)
            step = len(path)
            props: dict[str, Any] = {"text": node.text, "kind": "session", "step": step, **common}
            if node.rationale:
                props["rationale"] = node.rationale
            if node.comparison:
                props["comparison"] = node.comparison.text
                if node.comparison.aspect:
                    props["comparison_aspect"] = node.comparison.aspect
            attr = None
            if node.attribute:
                a = node.attribute.node()
                attributes.setdefault(a.id, {"id": a.id, "name": a.name, "value": a.value})
                attr = a.id
            rows.append({
                "id": nid,
                "props": props,
                "product": rec.products[step - 1].id,
                "session": self.session if parent is None else None,
                "parent": parent,
                "attribute": attr,
            })
            for i in range(len(node.children) - 1, -1, -1):
                stack.append((node.children[i], path + (i,), nid))
        return rows


def write_trees(store: GraphStore, units: list[TreeUnit]) -> WriteStats:
    """Products, attributes and sessions first; then all intentions of the batch in one query, so
    each tree appears whole or not at all."""
    products: dict[str, ProductUnit] = {}
    for u in units:
        for pu in u.product_units():
            products.setdefault(pu.product.id, pu)
    attributes: dict[str, dict[str, str]] = {}
    rows = [r for u in units for r in u.intention_rows(attributes)]
    stats = write_products(store, list(products.values()))
    if attributes:
        stats += store.write_rows("ingest_attributes", list(attributes.values()), batch_size=len(attributes))
    stats += write_sessions(store, [u.session_unit() for u in units])
    stats += store.write_rows("ingest_tree_intentions", rows, batch_size=len(rows) or 1)
    return stats


class TreesReader(Reader[TreeUnit]):
    kind = "trees"
    format = "intentkb"
    required = ("products", "intentions")

    def records(self, path: Path) -> Iterator[Record]:
        return jsonl_records(path, self.required)

    def convert(self, raw: Any) -> TreeUnit:
        rec = TreeRecord.model_validate(raw)
        return TreeUnit(record=rec, session=rec.resolved_session_id(), nodes=sum(n.count() for n in rec.intentions))

    def size(self, unit: TreeUnit) -> int:
        return unit.nodes

    def write(self, store: GraphStore, units: list[TreeUnit]) -> WriteStats:
        return write_trees(store, units)
