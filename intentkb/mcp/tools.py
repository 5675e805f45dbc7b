"""The knowledge base as an agent asks it: the functions behind the MCP tools, usable from Python.

Each takes the server's open resources (`KbTools`) and returns an answer model of `answers`, cut to
the response limit. Everything an agent sends reaches the graph as parameters, and Cypher text from
it runs as an outside query of the store: read-only, through the store guard (kb/guard.py), under
the query timeout and the row and byte caps. Errors are `IntentKBError`s with a message an agent
can act on (the server turns them into MCP tool errors).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from .. import __version__, cypher
from ..errors import IntentKBError, QueryTimedOut, ReadOnlyViolation
from ..kb.guard import ResultCaps
from ..kb.models import EDGE_SCHEMA, Node
from ..retrieval.index import IndexMeta, index_dir
from ..retrieval.keys import settings_key
from ..serve.state import KbState
from .answers import (
    DEFAULT_MAX_TOKENS,
    CopurchaseAnswer,
    IndexState,
    LabelInfo,
    NamedQuery,
    PairIntention,
    Product,
    ProductsAnswer,
    RelationshipInfo,
    RowsAnswer,
    SchemaAnswer,
    ScriptAnswer,
    StatusAnswer,
    TrajectoriesAnswer,
    Trajectory,
    fit,
)

MAX_K = 100
SUGGESTIONS = 5


class McpLimits(BaseModel):
    """What one tool call may cost and return (`intentkb mcp --max-tokens ...`)."""

    max_tokens: int = Field(
        default=DEFAULT_MAX_TOKENS, ge=1000, le=1_000_000, description="Tokens of an answer (about 4 characters each); kb_status needs ~300"
    )
    max_rows: int = Field(default=10_000, ge=1, description="Rows a Cypher query may return before it is refused")
    timeout: float = Field(default=30.0, gt=0, le=3600, description="Seconds a Cypher query may run")


class KbTools:
    """The open store and retriever behind the tools (opened once: a call costs a query, not a load)."""

    def __init__(self, state: KbState, limits: McpLimits | None = None) -> None:
        self.state = state
        self.limits = limits or McpLimits()
        self.caps = ResultCaps(max_rows=self.limits.max_rows, max_bytes=ResultCaps.of(state.settings).max_bytes)

    @property
    def store(self) -> Any:
        return self.state.store

    # -- retrieval -------------------------------------------------------------------------
    def retrieve_products(self, need: str, k: int = 10, rerank: bool | None = None) -> ProductsAnswer:
        _check_k(k)  # an empty text is refused by the batcher
        self._check_rerank(rerank)
        hits = self.state.batcher.submit(need, k, None, rerank is not False).result()
        return fit(lambda h: ProductsAnswer(need=need, products=h), hits, self.limits.max_tokens, "ask for a smaller k")

    def products_for_script(self, objective_or_script_id: str, k: int = 5, rerank: bool | None = None) -> ScriptAnswer:
        key = objective_or_script_id.strip()
        if not key:
            raise IntentKBError("empty objective: give a script id or its objective, e.g. 'Make a birthday cake'")
        _check_k(k)
        self._check_rerank(rerank)
        found = self.store.run("script_lookup", {"key": key, "limit": SUGGESTIONS + 1})
        exact = [r for r in found if r["exact"]]
        if not exact:
            near = "; ".join(f"{r['objective']!r} ({r['id']})" for r in found[:SUGGESTIONS])
            hint = f" Scripts whose objective contains it: {near}." if near else ""
            raise IntentKBError(
                f"no script with id or objective {key!r}.{hint} Without a script, split the objective into steps and call retrieve_products for each."
            )
        script = exact[0]
        steps = self.state.batcher.submit_script(script["id"], k, None, rerank is not False).result()

        def make(s: list[Any]) -> ScriptAnswer:
            return ScriptAnswer(script=script["id"], objective=script["objective"], steps=s)

        return fit(make, steps, self.limits.max_tokens, "ask for a smaller k (products per step)")

    def _check_rerank(self, rerank: bool | None) -> None:
        if rerank and not self.state.reranker_location:
            raise IntentKBError("this server has no reranker: start it with `intentkb mcp --rerank NAME`, or leave rerank unset")

    # -- the graph -------------------------------------------------------------------------
    def explain_copurchase(self, product_a: str, product_b: str) -> CopurchaseAnswer:
        a, b = self._product(product_a), self._product(product_b)
        if a.id == b.id:
            raise IntentKBError(f"product_a and product_b are the same product ({a.id}): give two different products")
        rows = self.store.run("explain_pair", {"a": a.id, "b": b.id})
        co_bought = bool(self.store.run("pair_cobought", {"a": a.id, "b": b.id})[0]["co_bought"])
        intentions = [PairIntention(**r) for r in rows]

        def make(items: list[Any]) -> CopurchaseAnswer:
            return CopurchaseAnswer(product_a=a, product_b=b, co_bought=co_bought, intentions=items)

        return fit(make, intentions, self.limits.max_tokens, "the pair has more intentions than fit: query them with read_cypher and LIMIT")

    def _product(self, key: str) -> Product:
        key = key.strip()
        if not key:
            raise IntentKBError("empty product: give a product id (an ASIN such as B07PF1R8LS) or its exact title")
        rows = self.store.run("product_titles", {"ids": [key]})
        if rows:
            return Product(id=rows[0]["id"], title=rows[0]["title"])
        found = self.store.run("product_lookup", {"key": key, "limit": SUGGESTIONS})
        if found and found[0]["exact"]:
            return Product(id=found[0]["id"], title=found[0]["title"])
        near = "; ".join(f"{r['id']} ({r['title']})" for r in found)
        raise IntentKBError(f"unknown product {key!r}: no product has that id or title." + (f" Titles containing it: {near}." if near else ""))

    def session_trajectories(self, session_id: str, limit: int = 20) -> TrajectoriesAnswer:
        if not 1 <= limit <= 1000:
            raise IntentKBError(f"limit {limit} is out of range: 1 to 1000")
        found = self.store.run("session_exists", {"session": session_id})
        if not found:
            raise IntentKBError(f"unknown session {session_id!r}: list sessions with run_named_query('session_ids_page', {{'after': '', 'limit': 20}})")
        rows = self.store.run("trajectory_details", {"session": session_id})[:limit]
        paths = [Trajectory(leaf=r["leaf"], steps=r["steps"]) for r in rows]

        def make(items: list[Any]) -> TrajectoriesAnswer:
            return TrajectoriesAnswer(session=session_id, total=int(found[0]["trajectories"]), trajectories=items)

        return fit(make, paths, self.limits.max_tokens, "ask for a smaller limit")

    def run_named_query(self, name: str, params: dict[str, Any] | None = None) -> RowsAnswer:
        name = name.strip()
        if not cypher.is_query_name(name) or name not in cypher.names(self.store.query_overrides):
            raise IntentKBError(f"no named query {name!r}: graph_schema lists them with their parameters")
        if cypher.is_internal(name):
            raise IntentKBError(f"{name!r} is one of intentkb's own pipeline queries, not for outside use: graph_schema lists the ones to run")
        params = dict(params or {})
        missing = [m for m in cypher.parameters(cypher.load(name, self.store.query_overrides)) if m not in params]
        if missing:
            raise IntentKBError(
                f"{name} needs the parameters {', '.join(missing)}: give them in params, e.g. {json.dumps({m: '…' for m in missing}, ensure_ascii=False)}"
            )
        # its text runs as an outside query: read-only, guarded, under the timeout and the caps
        return self._rows(cypher.load(name, self.store.query_overrides), params)

    def read_cypher(self, query: str, params: dict[str, Any] | None = None) -> RowsAnswer:
        if not query.strip():
            raise IntentKBError("empty query")
        if cypher.is_query_name(query):
            return self.run_named_query(query, params)
        return self._rows(query, dict(params or {}))

    def _rows(self, text: str, params: dict[str, Any]) -> RowsAnswer:
        try:
            rows = self.store.run(text, params, write=False, timeout=self.limits.timeout, caps=self.caps)
        except ReadOnlyViolation:
            raise ReadOnlyViolation("this query writes to the graph, and this server only reads: CREATE, MERGE, SET, DELETE and REMOVE are refused") from None
        except QueryTimedOut:
            raise QueryTimedOut(
                f"query timed out after this server's {self.limits.timeout:g} s: narrow it (LIMIT, a WHERE on id) or ask its operator for `intentkb mcp --timeout`"
            ) from None
        rows = json.loads(json.dumps(rows, default=str))  # plain JSON values (dates, points) for the structured answer
        return fit(lambda r: RowsAnswer(rows=r), rows, self.limits.max_tokens, "add LIMIT, filter with WHERE, or return fewer columns")

    def graph_schema(self) -> SchemaAnswer:
        labels = {r["label"]: int(r["count"]) for r in self.store.run("count_labels") if r["label"]}
        edges = {r["type"]: int(r["count"]) for r in self.store.run("count_edge_types")}
        nodes = {m.label.value: m for m in _node_models()}
        queries = [
            NamedQuery(name=n, summary=cypher.summary(n), parameters=cypher.parameters(cypher.load(n, self.store.query_overrides)))
            for n in cypher.names(self.store.query_overrides)
            if not cypher.is_internal(n)
        ]

        def make(q: list[Any]) -> SchemaAnswer:
            return self._schema(labels, edges, nodes, q)

        return fit(make, queries, self.limits.max_tokens, "the named queries are also the resource intentkb://queries")

    @staticmethod
    def _schema(labels: dict[str, int], edges: dict[str, int], nodes: dict[str, type[Node]], queries: list[NamedQuery]) -> SchemaAnswer:
        return SchemaAnswer(
            labels=[
                LabelInfo(label=name, count=labels.get(name, 0), properties=["id", *[f for f in model.model_fields if f != "id"]])
                for name, model in nodes.items()
            ],
            relationships=[
                RelationshipInfo(type=t.value, source=src.value, target=dst.value, count=edges.get(t.value, 0), properties=sorted(props))
                for t, (src, dst, props) in EDGE_SCHEMA.items()
            ],
            named_queries=queries,
        )

    def kb_status(self) -> StatusAnswer:
        settings = self.state.settings
        nodes = {r["label"]: int(r["count"]) for r in self.store.run("count_labels") if r["label"]}
        edges = {r["type"]: int(r["count"]) for r in self.store.run("count_edge_types")}
        indexes = []
        for name in ("intentions", "steps", "products"):
            path = index_dir(settings, name) / "meta.json"
            if path.exists():
                try:
                    m = IndexMeta.model_validate_json(path.read_bytes())
                except (OSError, ValueError) as e:  # the tool one reaches for to diagnose a broken knowledge base: it says what is broken
                    problem = f"cannot read {path} ({type(e).__name__}); rebuild the index with `intentkb index build --rebuild`"
                    indexes.append(IndexState(name=name, kind="unreadable", count=0, model="", problem=problem))
                    continue
                indexes.append(IndexState(name=name, kind=m.kind, count=m.count, model=m.model, recall_at_10=m.recall_at_10))
        return StatusAnswer(
            version=__version__,
            engine=self.store.kind,
            graph=settings.graph_name,
            store=self.store.health(),
            nodes=nodes,
            relationships=edges,
            indexes=indexes,
            embedding_model=settings_key(settings),
            max_tokens=self.limits.max_tokens,
        )


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise IntentKBError(f"k {k} is out of range: 1 to {MAX_K}")


def _node_models() -> list[type[Node]]:
    out, todo = [], list(Node.__subclasses__())
    while todo:
        m = todo.pop(0)
        if hasattr(m, "label"):
            out.append(m)
        todo.extend(m.__subclasses__())
    return out
