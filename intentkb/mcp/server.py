"""`intentkb mcp`: the knowledge base as a Model Context Protocol server (the official `mcp` SDK).

Tools (all read-only, annotated so, so that clients may approve them without asking), resources
(the graph schema and the named queries) and one prompt (`plan_purchases`). Over stdio, what a
desktop agent launches; over streamable HTTP on loopback by default, with the SDK's Host and
Origin checks against DNS rebinding, and a bearer token when one is set (as `intentkb serve`).
A tool's failure is an MCP tool error with the library's message; the server goes on serving.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from .. import __version__, cypher
from ..config import Settings
from ..errors import IntentKBError
from ..kb.guard import unsendable
from ..serve.state import KbState
from .answers import CopurchaseAnswer, ProductsAnswer, RowsAnswer, SchemaAnswer, ScriptAnswer, StatusAnswer, TrajectoriesAnswer
from .tools import MAX_K, KbTools, McpLimits

# parameter types at module level (the SDK reads the tools' annotations by name), strict: `true`
# is not a k of 1, nor "3" a k of 3, nor "yes" a rerank
K = Annotated[int, Field(ge=1, le=MAX_K, strict=True, description=f"How many products (1–{MAX_K})")]
PerStep = Annotated[int, Field(ge=1, le=MAX_K, strict=True, description="Products per step")]
Limit = Annotated[int, Field(ge=1, le=1000, strict=True, description="Trajectories at most")]
Rerank = Annotated[bool | None, Field(strict=True, description="Re-order with the server's reranker (default: when it has one)")]
Params = Annotated[dict[str, Any] | None, Field(description="Query parameters, referred to as $name in the query")]
Need = Annotated[str, Field(min_length=1, max_length=2000, description="A need or a plan step in words")]
Objective = Annotated[str, Field(min_length=1, max_length=500, description="A script's id or its objective, e.g. 'Make a birthday cake'")]
ProductKey = Annotated[str, Field(min_length=1, max_length=500, description="A product id (ASIN such as B07PF1R8LS) or its exact title")]
SessionId = Annotated[str, Field(min_length=1, max_length=500, description="A session's id")]
QueryName = Annotated[str, Field(min_length=1, max_length=100, description="A named query (graph_schema lists them)")]
Query = Annotated[str, Field(min_length=1, max_length=100_000, description="Read-only Cypher")]
OBJECTIVE_TEXT = "What the shopper wants to do, e.g. 'start longboarding'"

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

    def answer(fn: Callable[[KbTools], BaseModel]) -> CallToolResult:
        """The answer as compact JSON text and as structured content: what was cut to the token limit
        is what is sent (the SDK's own text block is indented: four times the limit for nested rows)."""
        model = call(fn)
        return CallToolResult(content=[TextContent(type="text", text=model.model_dump_json())], structured_content=model.model_dump(mode="json"))

    @server.tool(annotations=READ_ONLY)
    def retrieve_products(step_or_need: Need, k: K = 10, rerank: Rerank = None) -> Annotated[CallToolResult, ProductsAnswer]:
        """Products that serve a need or a step of a plan, through the purchase intentions that link them
        (with the intention's text, its similarity and the paths that found each product). The same
        answer as `intentkb retrieve`."""
        return answer(lambda t: t.retrieve_products(step_or_need, k, rerank))

    @server.tool(annotations=READ_ONLY)
    def products_for_script(objective_or_script_id: Objective, k: PerStep = 5, rerank: Rerank = None) -> Annotated[CallToolResult, ScriptAnswer]:
        """The steps of a known shopping script, each with its products (from ALIGNED edges of the graph,
        else searched). An objective with no script fails with the nearest objectives: then split it
        into steps yourself and call retrieve_products on each."""
        return answer(lambda t: t.products_for_script(objective_or_script_id, k, rerank))

    @server.tool(annotations=READ_ONLY)
    def explain_copurchase(product_a: ProductKey, product_b: ProductKey) -> Annotated[CallToolResult, CopurchaseAnswer]:
        """Why two products are bought together: the co-buy intentions that explain the pair, with their
        commonsense relation, rationale and the filter's or critic's verdict (kept ones first)."""
        return answer(lambda t: t.explain_copurchase(product_a, product_b))

    @server.tool(annotations=READ_ONLY)
    def session_trajectories(session_id: SessionId, limit: Limit = 20) -> Annotated[CallToolResult, TrajectoriesAnswer]:
        """The intention trajectories of a shopping session: each a path from the first intention to a
        leaf, with per step the intention, its rationale, the attribute it values and the product viewed."""
        return answer(lambda t: t.session_trajectories(session_id, limit))

    @server.tool(annotations=READ_ONLY)
    def run_named_query(name: QueryName, params: Params = None) -> Annotated[CallToolResult, RowsAnswer]:
        """Run one of intentkb's named Cypher queries, read-only, with its parameters."""
        return answer(lambda t: t.run_named_query(name, params))

    @server.tool(annotations=READ_ONLY)
    def read_cypher(query: Query, params: Params = None) -> Annotated[CallToolResult, RowsAnswer]:
        """Run a read-only Cypher query (Neo4j / FalkorDB dialect) under a timeout and row limits; writes,
        file access and procedures outside the graph are refused. Pass values as params ($name)."""
        return answer(lambda t: t.read_cypher(query, params))

    @server.tool(annotations=READ_ONLY)
    def graph_schema() -> Annotated[CallToolResult, SchemaAnswer]:
        """Node labels and relationship types with their properties and counts, and the named queries
        with their parameters."""
        return answer(lambda t: t.graph_schema())

    @server.tool(annotations=READ_ONLY)
    def kb_status() -> Annotated[CallToolResult, StatusAnswer]:
        """The engine, node and relationship counts, the indexes and the embedding model."""
        return answer(lambda t: t.kb_status())

    @server.resource("intentkb://schema", name="schema", mime_type="application/json", description="The graph schema (as graph_schema answers)")
    def schema_resource() -> str:
        return str(call(lambda t: t.graph_schema().model_dump_json()))  # compact: what the token limit measured

    @server.resource("intentkb://queries", name="queries", mime_type="application/json", description="The named queries with their parameters")
    def queries_resource() -> str:
        return json.dumps([q.model_dump() for q in call(lambda t: t.graph_schema().named_queries)], separators=(",", ":"))

    @server.resource("intentkb://queries/{name}", name="query", mime_type="text/plain", description="A named query's Cypher text")
    def query_resource(name: str) -> str:
        if not cypher.is_query_name(name) or cypher.is_internal(name) or name not in cypher.names():
            raise ResourceError(f"no named query {name.encode('ascii', 'backslashreplace').decode()!r} to show: intentkb://queries lists them")
        return cypher.load(name)

    @server.prompt(title="Plan purchases for an objective")
    def plan_purchases(
        objective: Annotated[str, Field(description=OBJECTIVE_TEXT)], k: Annotated[str, Field(description="Products per step, 1 to 100")] = "3"
    ) -> str:
        """How to turn an objective into steps and products with this server's tools."""
        # checked here, not by annotations: the SDK answers a prompt's validation error with "Error
        # rendering prompt" and no reason; an MCPError reaches the client as it is
        if not (k.isascii() and k.isdigit() and len(k) <= 3 and 1 <= int(k) <= 100):
            raise MCPError(INVALID_PARAMS, f"k must be a whole number from 1 to 100, not {k[:20]!a}")
        objective = objective.strip()
        if not 1 <= len(objective) <= 500 or unsendable(objective) or any(unicodedata.category(c) == "Cc" for c in objective):
            raise MCPError(INVALID_PARAMS, "objective must be 1 to 500 characters of text, without control characters")
        return PLAN_PROMPT.format(objective=objective, k=int(k))

    return server


def run_stdio(settings: Settings, *, limits: McpLimits | None = None, reranker: str | None = None) -> None:
    tools = open_tools(settings, limits=limits, reranker=reranker)
    try:
        build_server(tools).run("stdio")
    finally:
        tools.state.close()
