"""Named queries as Python functions: the same calls back the CLI, the demo and the tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .store import GraphStore, Row

if TYPE_CHECKING:
    import networkx as nx


def iter_session_ids(store: GraphStore, page: int = 500) -> Iterator[str]:
    """All session ids in id order, fetched a page at a time (keyset paging, constant memory)."""
    for rows in keyset_pages(store, "session_ids_page", page):
        yield from (r["id"] for r in rows)


def keyset_pages(
    store: GraphStore, query: str, page: int, params: dict[str, Any] | None = None, *, keys: tuple[str, ...] = ("id",), limit: int | None = None
) -> Iterator[list[Row]]:
    """Pages of a keyset-paged query, constant memory: the one pager of every paged query.

    One key (`id`): the query takes `$after` and returns rows ordered by `id`. Several keys (e.g.
    `("a", "b")` for product pairs): the query takes one parameter per key, named after it, and
    returns rows ordered by them. Both take `$limit`. `limit` stops after that many rows in all."""
    cursor: dict[str, Any] = {"after": ""} if keys == ("id",) else {k: "" for k in keys}
    left = limit
    while left is None or left > 0:
        size = page if left is None else min(page, left)
        rows = store.run(query, {**(params or {}), **cursor, "limit": size})
        if rows:
            yield rows
        if left is not None:
            left -= len(rows)
        if len(rows) < size:
            return
        last = rows[-1]
        cursor = {"after": last["id"]} if keys == ("id",) else {k: last[k] for k in keys}


def iter_trajectories(store: GraphStore, page: int = 200, sessions: list[str] | None = None) -> Iterator[Row]:
    """Every root-to-leaf intention path as {session, intentions: [ids root→leaf]}, streamed by
    pages of sessions so that neither the server nor the client holds the whole forest's paths."""
    source: Iterator[str] = iter(sessions) if sessions is not None else iter_session_ids(store, page=max(page, 500))
    chunk: list[str] = []
    for sid in source:
        chunk.append(sid)
        if len(chunk) >= page:
            yield from store.run("trajectories", {"sessions": chunk})
            chunk = []
    if chunk:
        yield from store.run("trajectories", {"sessions": chunk})


def trajectory_details(store: GraphStore, session: str) -> list[Row]:
    return store.run("trajectory_details", {"session": session})


def session_tree(store: GraphStore, session: str) -> nx.DiGraph:
    """One session's intention tree as a networkx DiGraph (node attributes = intention fields)."""
    import networkx as nx  # trees only: most commands never load it

    g = nx.DiGraph(session=session)
    for r in store.run("session_tree", {"session": session}):
        node = dict(r)
        parent = node.pop("parent")
        g.add_node(node["id"], **node)
        if parent:
            g.add_edge(parent, node["id"])
    return g


def tree_profile(g: nx.DiGraph) -> dict[int, int]:
    """Nodes per step: the figure to compare with the branching schedule."""
    out: dict[int, int] = {}
    for _, data in g.nodes(data=True):
        out[data["step"]] = out.get(data["step"], 0) + 1
    return dict(sorted(out.items()))


def check_tree(g: nx.DiGraph) -> list[str]:
    """Shape problems of an intention tree: cycles, several parents, step not parent's + 1."""
    problems = []
    import networkx as nx

    if not nx.is_directed_acyclic_graph(g):
        problems.append("cycle in BRANCH edges")
    for n in g.nodes:
        if g.in_degree(n) > 1:
            problems.append(f"{n} has {g.in_degree(n)} parents")
        for p in g.predecessors(n):
            if g.nodes[n]["step"] != g.nodes[p]["step"] + 1:
                problems.append(f"{n} is at step {g.nodes[n]['step']} under a step-{g.nodes[p]['step']} parent")
    return problems


def product_intentions(store: GraphStore, product: str, limit: int = 100) -> list[Row]:
    return store.run("product_intentions", {"product": product, "limit": limit})


def pair_cobuy_intentions(store: GraphStore, a: str, b: str, relation: str | None = None, accepted_only: bool = False) -> list[Row]:
    from .models import Relation

    rel = Relation.parse(relation).value if relation else None
    return store.run("pair_cobuy_intentions", {"a": a, "b": b, "relation": rel, "accepted_only": accepted_only})


def relation_preserve_rates(store: GraphStore) -> list[dict[str, Any]]:
    rows = store.run("relation_preserve_rates")
    for r in rows:
        judged = r["intentions"] - r["unfiltered"]
        r["preserve_rate"] = round(r["accepted"] / judged, 4) if judged else None
    return rows
