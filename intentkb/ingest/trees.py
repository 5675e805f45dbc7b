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
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError, model_validator, with_config
from typing_extensions import TypedDict

from ..io.sources import BadLine, Record, jsonl_records, parse_json_line
from ..kb.ids import attribute_id, session_id, session_intention_ider
from ..kb.models import Attribute, OptKey, OptText, Product, Session
from ..kb.store import GraphStore, PreparedWrite
from .base import Reader
from .fields import Key
from .products import ProductUnit, plan_products
from .sessions import SessionUnit, plan_sessions

# Tree files run to millions of nodes, so their fields are checked by pydantic-core alone (no Python
# validator per field): stripped, non-empty, and free of control characters (a NUL cannot travel in a
# Cypher parameter). Attributes may be written "name: value" or {"name", "value"}.
_C = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
NodeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000, pattern=rf"^[^{_C}]*$")]
PairText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000, pattern=rf"^[^:{_C}]*[^:\s{_C}][^:{_C}]*:[^{_C}]*[^\s{_C}][^{_C}]*$")]
OptNodeText = NodeText | None


@with_config(ConfigDict(extra="forbid"))
class TreeAttribute(TypedDict):
    name: NodeText
    value: NodeText


@with_config(ConfigDict(extra="forbid"))
class TreeComparison(TypedDict):
    aspect: NotRequired[OptNodeText]
    text: NodeText


@with_config(ConfigDict(extra="forbid"))
class TreeNode(TypedDict):
    """An intention node. A TypedDict, not a model: pydantic-core validates it without building a
    Python object per node, which is 2.5× faster on a forest of millions of nodes."""

    text: NodeText
    attribute: NotRequired[PairText | TreeAttribute | None]
    rationale: NotRequired[OptNodeText]
    comparison: NotRequired[NodeText | TreeComparison | None]
    children: NotRequired[list[TreeNode]]


def tree_shape(node: TreeNode) -> tuple[int, int]:
    """(depth, node count) of a subtree, in one walk."""
    depth, count, stack = 0, 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        count += 1
        if d > depth:
            depth = d
        kids = n.get("children")
        if kids:
            stack.extend((c, d + 1) for c in kids)
    return depth, count


def split_attribute(attr: str | TreeAttribute) -> tuple[str, str]:
    if isinstance(attr, dict):
        return attr["name"], attr["value"]
    name, _, value = attr.partition(":")
    return name.strip(), value.strip()


_ATTR_IDS: dict[tuple[str, str], dict[str, str]] = {}


def attribute_row(name: str, value: str) -> dict[str, str]:
    """{id, name, value} of an attribute, memoised: a forest reuses a few thousand pairs millions of times."""
    key = (name, value)
    row = _ATTR_IDS.get(key)
    if row is None:
        if len(_ATTR_IDS) > 200_000:
            _ATTR_IDS.clear()
        row = _ATTR_IDS[key] = {"id": attribute_id(name, value), "name": name.lower(), "value": value}
    return row


class TreeProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Key  # the same id rule as every reader (one per product, not per node: cheap)
    title: OptText = None
    category: OptText = None
    attributes: list[PairText | TreeAttribute] = Field(default_factory=list)


class TreeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: Annotated[OptKey, Field(max_length=512)] = None  # the Session node's id rule
    locale: OptText = None
    products: list[TreeProduct] = Field(min_length=1)
    intentions: list[TreeNode] = Field(min_length=1)
    model: OptText = None
    prompt_version: OptText = None
    source: OptText = None

    @model_validator(mode="after")
    def _fits_session(self) -> TreeRecord:
        shapes = [tree_shape(n) for n in self.intentions]
        depth = max(d for d, _ in shapes)
        if depth > len(self.products):
            raise ValueError(f"tree is {depth} steps deep but the session has {len(self.products)} products")
        self._nodes = sum(c for _, c in shapes)
        return self

    _nodes: int = PrivateAttr(default=0)

    @property
    def node_count(self) -> int:
        return self._nodes

    def resolved_session_id(self) -> str:
        return self.session_id or session_id(self.locale, [p.id for p in self.products], None)


@dataclass
class TreeUnit:
    """A validated unit of work (its parts are pydantic models already; no second validation)."""

    record: TreeRecord
    session: str
    nodes: int

    def product_units(self) -> list[ProductUnit]:
        out = []
        for p in self.record.products:
            asin = p.id.rsplit(":", 1)[-1]
            product = Product(id=p.id, asin=asin, title=p.title, category=p.category)
            attrs = [attribute_row(*split_attribute(a)) for a in p.attributes]
            out.append(ProductUnit(product=product, attributes=[Attribute(**a) for a in attrs]))
        return out

    def session_unit(self) -> SessionUnit:
        rec = self.record
        s = Session(id=self.session, locale=rec.locale, length=len(rec.products), source=rec.source)
        return SessionUnit(session=s, items=[p.id for p in rec.products], asins=[p.id.rsplit(":", 1)[-1] for p in rec.products])

    def walk(self) -> Iterator[tuple[int, int, dict[str, Any], dict[str, str] | None]]:
        """(parent's position in this walk or -1 for a root, step, props, attribute row) per node,
        parent before child. Both load paths (MERGE and bulk) write exactly these."""
        rec = self.record
        common = {k: v for k, v in (("model", rec.model), ("prompt_version", rec.prompt_version), ("source", rec.source)) if v}
        make_id = session_intention_ider(self.session)
        stack: list[tuple[TreeNode, tuple[int, ...], int]] = [(n, (i,), -1) for i, n in reversed(list(enumerate(rec.intentions)))]
        position = -1
        while stack:
            node, path, parent = stack.pop()
            position += 1
            nid = make_id(path)
            step = len(path)
            props: dict[str, Any] = {"id": nid, "text": node["text"], "kind": "session", "step": step, **common}
            rationale = node.get("rationale")
            if rationale:
                props["rationale"] = rationale
            cmp = node.get("comparison")
            if isinstance(cmp, dict):
                props["comparison"] = cmp["text"]
                if cmp.get("aspect"):
                    props["comparison_aspect"] = cmp["aspect"]
            elif cmp:
                aspect, sep, text = cmp.partition(":")
                if sep and text.strip():
                    props["comparison"], props["comparison_aspect"] = text.strip(), aspect.strip()
                else:
                    props["comparison"] = cmp
            attr = node.get("attribute")
            yield parent, step, props, attribute_row(*split_attribute(attr)) if attr else None
            kids = node.get("children") or ()
            for i in range(len(kids) - 1, -1, -1):
                stack.append((kids[i], path + (i,), position))

    def intention_rows(self, attributes: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
        """Update path (MERGE): one row per node, each carrying what its edges need. Optional
        fields the record lacks are sent as null, so a tree loaded again replaces the earlier one."""
        products = self.record.products
        rows: list[dict[str, Any]] = []
        for parent, step, props, attr in self.walk():
            props = {**_CLEARED, **props}
            if attr is not None:
                attributes.setdefault(attr["id"], attr)
            row: dict[str, Any] = {"id": props["id"], "props": props, "product": products[step - 1].id, "attribute": attr and attr["id"]}
            if parent < 0:
                row["session"] = self.session
            else:
                row["parent"] = rows[parent]["id"]
            rows.append(row)
        return rows


def _keep_lists(units: list[TreeUnit], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per session of the batch, the ids of its new tree (the rows are in unit order)."""
    out, start = [], 0
    for u in units:
        out.append({"session": u.session, "keep": [r["id"] for r in rows[start : start + u.nodes]]})
        start += u.nodes
    return out


_CLEARED = dict.fromkeys(("rationale", "comparison", "comparison_aspect", "model", "prompt_version", "source"))


def plan_trees(store: GraphStore, units: list[TreeUnit], written: set[str] | None = None) -> list[PreparedWrite]:
    """One transaction per batch (products, attributes, sessions, then every intention of the batch),
    so each tree appears whole or not at all. `written` holds product and attribute ids this run
    has sent already (a forest reuses a few thousand of them millions of times): not re-sent."""
    written = written if written is not None else set()
    products: dict[str, ProductUnit] = {}
    for u in units:
        for pu in u.product_units():
            if pu.product.id not in written:
                products.setdefault(pu.product.id, pu)
    attributes: dict[str, dict[str, str]] = {}
    rows = [r for u in units for r in u.intention_rows(attributes)]
    new_attributes = [a for k, a in attributes.items() if k not in written]
    plan = plan_products(store, list(products.values()))
    if new_attributes:
        plan.append(store.prepare_write("ingest_attributes", {"rows": new_attributes}))
    plan += plan_sessions(store, [u.session_unit() for u in units])
    roots = [r for r in rows if "session" in r]
    children = [r for r in rows if "parent" in r]
    plan.append(store.prepare_write("ingest_tree_intentions", {"trees": _keep_lists(units, rows), "roots": roots, "rows": children}))
    written.update(products)
    written.update(a["id"] for a in new_attributes)
    return [sum(plan[1:], plan[0])]


class TreesReader(Reader[TreeUnit]):
    kind = "trees"
    format = "intentkb"
    required = ("products", "intentions")

    def records(self, path: Path) -> Iterator[Record]:
        return jsonl_records(path, self.required)

    def convert(self, raw: Any) -> TreeUnit:
        return self._unit(TreeRecord.model_validate(raw))

    def convert_line(self, text: str) -> TreeUnit | BadLine:
        """`convert` of a JSON line, parsed and validated in one pass by pydantic-core (4 µs a
        node faster); the rejects keep the reasons `jsonl_records` + `convert` would give."""
        if isinstance(text, BadLine):
            return text
        try:
            return self._unit(TreeRecord.model_validate_json(text))
        except ValidationError as e:
            raw = parse_json_line(text)
            if isinstance(raw, BadLine):
                return raw
            if e.errors()[0]["type"] == "json_invalid":
                raise
            return self.convert(raw)  # raises the error `convert` gives, on the parsed record

    @staticmethod
    def _unit(rec: TreeRecord) -> TreeUnit:
        return TreeUnit(record=rec, session=rec.resolved_session_id(), nodes=rec.node_count)

    def size(self, unit: TreeUnit) -> int:
        return unit.nodes

    def key(self, unit: TreeUnit) -> str:
        return unit.session

    def __init__(self) -> None:
        self.written: set[str] = set()

    def plan(self, store: GraphStore, units: list[TreeUnit]) -> list[PreparedWrite]:
        return plan_trees(store, units, self.written)
