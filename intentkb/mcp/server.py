"""`intentkb mcp`: the knowledge base as a Model Context Protocol server (the official `mcp` SDK).

Tools (all read-only, annotated so, so that clients may approve them without asking), resources
(the graph schema and the named queries) and one prompt (`plan_purchases`). Over stdio, what a
desktop agent launches; over streamable HTTP on loopback by default, with the SDK's Host and
Origin checks against DNS rebinding, and a bearer token when one is set (as `intentkb serve`).
A tool's failure is an MCP tool error with the library's message; the server goes on serving.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from .. import __version__, cypher
from ..config import Settings
from ..errors import IntentKBError
from ..serve.state import KbState
from .answers import CopurchaseAnswer, ProductsAnswer, RowsAnswer, SchemaAnswer, ScriptAnswer, StatusAnswer, TrajectoriesAnswer
from .tools import MAX_K, KbTools, McpLimits

# parameter types at module level: the SDK reads the tools' annotations by name
K = Annotated[int, Field(ge=1, le=MAX_K, description=f"How many products (1–{MAX_K})")]
Params = Annotated[dict[str, Any] | None, Field(description="Query parameters, referred to as $name in the query")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

INSTRUCTIONS = """A knowledge graph of e-commerce purchase intentions: products, the intentions that explain
why people buy them (alone or together), shopping sessions as intention trees, and shopping scripts
(objective → steps) linked to products through intentions. Start with kb_status or graph_schema;
retrieve_products finds products for a need or a step; products_for_script does every step of a
known script; explain_copurchase says why two products go together. Everything is read-only."""

PLAN_PROMPT = """Plan the purchases for this objective: {objective}

1. Call products_for_script with the objective. If it names a script, use its steps and products.
2. Otherwise split the objective into 3 to 7 concrete steps, in order, each one action a shopper takes.
3. For each step call retrieve_products with the step's text and k = {k}.
4. For each step keep the products whose linking intention (intention_text) fits the step; drop weak
   matches (weak: true) unless nothing better came back.
5. Where two chosen products go together, call explain_copurchase to say why.
6. Answer with the steps in order, each with its products (id and title) and one line on why, quoting
   the intention that links it. Say which steps found nothing."""


def open_tools(settings: Settings, *, limits: McpLimits | None = None, reranker: str | None = None) -> KbTools:
    """The store and the retriever, opened once for the server's life (the SDK's own lifespan runs
    once per HTTP session: a model loaded per session would cost each new client seconds)."""
    state = KbState(settings, reranker)
    try:
        state.ready()  # the model and indexes now, not in the first call
    except IntentKBError:
        pass  # no index yet: the retrieval tools say so; the graph tools work
    return KbTools(state, limits)


def build_server(tools: KbTools) -> MCPServer:
    """The server over open `tools` (`open_tools`)."""
    server = MCPServer(name="intentkb", title="intentkb knowledge base", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")

    def call(fn: Callable[[KbTools], Any]) -> Any:
        try:
            return fn(tools)
        except IntentKBError as e:
            raise ToolError(str(e)) from None

    @server.tool(annotations=READ_ONLY)
    def retrieve_products(
        step_or_need: Annotated[str, Field(min_length=1, max_length=2000, description="A need or a plan step in words")],
        k: K = 10,
        rerank: Annotated[bool | None, Field(description="Re-order with the server's reranker (default: when it has one)")] = None,
    ) -> ProductsAnswer:
        """Products that serve a need or a step of a plan, through the purchase intentions that link them
        (with the intention's text, its similarity and the paths that found each product). The same
        answer as `intentkb retrieve`."""
        return call(lambda t: t.retrieve_products(step_or_need, k, rerank))

    @server.tool(annotations=READ_ONLY)
    def products_for_script(
        objective_or_script_id: Annotated[str, Field(min_length=1, max_length=500, description="A script's id or its objective, e.g. 'Make a birthday cake'")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="Products per step")] = 5,
        rerank: Annotated[bool | None, Field(description="Re-order with the server's reranker (default: when it has one)")] = None,
    ) -> ScriptAnswer:
        """The steps of a known shopping script, each with its products (from ALIGNED edges of the graph,
        else searched). An objective with no script fails with the nearest objectives: then split it
        into steps yourself and call retrieve_products on each."""
        return call(lambda t: t.products_for_script(objective_or_script_id, k, rerank))

    @server.tool(annotations=READ_ONLY)
    def explain_copurchase(
        product_a: Annotated[str, Field(min_length=1, max_length=500, description="A product id (ASIN) or its exact title")],
        product_b: Annotated[str, Field(min_length=1, max_length=500, description="The other product, the same way")],
    ) -> CopurchaseAnswer:
        """Why two products are bought together: the co-buy intentions that explain the pair, with their
        commonsense relation, rationale and the filter's or critic's verdict (kept ones first)."""
        return call(lambda t: t.explain_copurchase(product_a, product_b))

    @server.tool(annotations=READ_ONLY)
    def session_trajectories(
        session_id: Annotated[str, Field(min_length=1, max_length=500, description="A session's id")],
        limit: Annotated[int, Field(ge=1, le=1000, description="Trajectories at most")] = 20,
    ) -> TrajectoriesAnswer:
        """The intention trajectories of a shopping session: each a path from the first intention to a
        leaf, with per step the intention, its rationale, the attribute it values and the product viewed."""
        return call(lambda t: t.session_trajectories(session_id, limit))

    @server.tool(annotations=READ_ONLY)
    def run_named_query(
        name: Annotated[str, Field(min_length=1, max_length=100, description="A named query (graph_schema lists them)")], params: Params = None
    ) -> RowsAnswer:
        """Run one of intentkb's named Cypher queries, read-only, with its parameters."""
        return call(lambda t: t.run_named_query(name, params))

    @server.tool(annotations=READ_ONLY)
    def read_cypher(query: Annotated[str, Field(min_length=1, max_length=100_000, description="Read-only Cypher")], params: Params = None) -> RowsAnswer:
        """Run a read-only Cypher query (Neo4j / FalkorDB dialect) under a timeout and row limits; writes,
        file access and procedures outside the graph are refused. Pass values as params ($name)."""
        return call(lambda t: t.read_cypher(query, params))

    @server.tool(annotations=READ_ONLY)
    def graph_schema() -> SchemaAnswer:
        """Node labels and relationship types with their properties and counts, and the named queries
        with their parameters."""
        return call(lambda t: t.graph_schema())

    @server.tool(annotations=READ_ONLY)
    def kb_status() -> StatusAnswer:
        """The engine, node and relationship counts, the indexes and the embedding model."""
        return call(lambda t: t.kb_status())

    @server.resource("intentkb://schema", name="schema", mime_type="application/json", description="The graph schema (as graph_schema answers)")
    def schema_resource() -> str:
        return str(call(lambda t: t.graph_schema().model_dump_json(indent=2)))

    @server.resource("intentkb://queries", name="queries", mime_type="application/json", description="The named queries with their parameters")
    def queries_resource() -> str:
        return json.dumps([q.model_dump() for q in call(lambda t: t.graph_schema().named_queries)], indent=2)

    @server.resource("intentkb://queries/{name}", name="query", mime_type="text/plain", description="A named query's Cypher text")
    def query_resource(name: str) -> str:
        if not cypher.is_query_name(name) or cypher.is_internal(name) or name not in cypher.names():
            raise ToolError(f"no named query {name!r}")
        return cypher.load(name)

    @server.prompt(title="Plan purchases for an objective")
    def plan_purchases(objective: Annotated[str, Field(description="What the shopper wants to do, e.g. 'start longboarding'")], k: str = "3") -> str:
        """How to turn an objective into steps and products with this server's tools."""
        return PLAN_PROMPT.format(objective=objective, k=k)

    return server


Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def bearer_guard(app: ASGI, token: str | None) -> ASGI:
    """Every HTTP request must carry `Authorization: Bearer TOKEN` when a token is set."""
    if token is None:
        return app
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            got = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(got, expected):
                body = json.dumps({"detail": "a bearer token is required"}).encode()
                headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def run_stdio(settings: Settings, *, limits: McpLimits | None = None, reranker: str | None = None) -> None:
    tools = open_tools(settings, limits=limits, reranker=reranker)
    try:
        build_server(tools).run("stdio")
    finally:
        tools.state.close()


def run_http(settings: Settings, host: str, port: int, *, token: str | None = None, limits: McpLimits | None = None, reranker: str | None = None) -> None:
    import uvicorn

    tools = open_tools(settings, limits=limits, reranker=reranker)
    try:
        # plain JSON answers, not an SSE stream per call (no tool streams progress): +6.5 -> +4.0 ms over POST /retrieve
        app = build_server(tools).streamable_http_app(host=host, json_response=True)  # Host and Origin checked on loopback
        uvicorn.run(bearer_guard(app, token), host=host, port=port, log_level="warning", lifespan="on")
    finally:
        tools.state.close()
