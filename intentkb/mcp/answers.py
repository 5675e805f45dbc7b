"""What the MCP tools answer, sized for an LLM's context.

An answer is a pydantic model (the SDK turns it into the tool's output schema and its structured
content). Its list is cut to fit the response limit, counted in tokens the way Neo4j's MCP servers
count them, approximately: `CHARS_PER_TOKEN` characters of the JSON a token (there is no
tokenizer of the client's model to ask, and tiktoken would fetch its tables from the network).
A cut answer says so, with how many items it kept and how to narrow the question.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from ..retrieval.fusion import ProductHit
from ..retrieval.retrieve import StepProducts

CHARS_PER_TOKEN = 4
DEFAULT_MAX_TOKENS = 10_000


class Cut(BaseModel):
    """Whether the list of an answer was cut to the response limit."""

    truncated: bool = Field(default=False, description="True when the answer was cut to fit the response limit")
    note: str | None = Field(default=None, description="What was cut and how to ask for less")


class ProductsAnswer(Cut):
    need: str
    products: list[ProductHit] = Field(description="Best first: each with the intention that links it, its scores and the paths that found it")


class ScriptAnswer(Cut):
    script: str = Field(description="The script's id")
    objective: str | None = None
    steps: list[StepProducts] = Field(description="Per step in order: its products; source 'aligned' (graph edges) or 'search'")


class Product(BaseModel):
    id: str
    title: str | None = None


class PairIntention(BaseModel):
    id: str
    relation: str | None = Field(default=None, description="MIND's commonsense relation (usedFor, capableOf, ...)")
    text: str
    assertion: str | None = None
    rationale: str | None = None
    typicality: float | None = None
    accepted: bool | None = Field(default=None, description="The role-aware filter's or critic's verdict; None when never judged")
    filter_reason: str | None = None
    critic_score: float | None = None
    source: str | None = Field(default=None, description="The model or dataset the intention came from")


class CopurchaseAnswer(Cut):
    product_a: Product
    product_b: Product
    co_bought: bool = Field(description="Whether the graph records the two as bought together")
    intentions: list[PairIntention]


class TrajectoryStep(BaseModel):
    id: str
    step: int | None = None
    text: str | None = None
    rationale: str | None = None
    attribute: str | None = None
    comparison_aspect: str | None = None
    comparison: str | None = None
    product: str | None = None
    product_title: str | None = None


class Trajectory(BaseModel):
    leaf: str
    steps: list[TrajectoryStep] = Field(description="Root to leaf")


class TrajectoriesAnswer(Cut):
    session: str
    total: int = Field(description="Trajectories of the session in the graph")
    trajectories: list[Trajectory]


class RowsAnswer(Cut):
    rows: list[dict[str, Any]]


class LabelInfo(BaseModel):
    label: str
    count: int
    properties: list[str]


class RelationshipInfo(BaseModel):
    type: str
    source: str
    target: str
    count: int
    properties: list[str]


class NamedQuery(BaseModel):
    name: str
    summary: str
    parameters: list[str]


class SchemaAnswer(Cut):
    labels: list[LabelInfo]
    relationships: list[RelationshipInfo]
    named_queries: list[NamedQuery]


class IndexState(BaseModel):
    name: str
    kind: str
    count: int
    model: str
    recall_at_10: float | None = None
    problem: str | None = None  # an index whose meta.json cannot be read: what to do


class StatusAnswer(BaseModel):
    version: str
    engine: str
    graph: str
    store: dict[str, Any]
    nodes: dict[str, int]
    relationships: dict[str, int]
    indexes: list[IndexState]
    embedding_model: str
    max_tokens: int = Field(description="This server's response limit, in tokens (about 4 characters each)")


A = TypeVar("A", bound=Cut)


def tokens(model: BaseModel) -> int:
    return -(-len(model.model_dump_json()) // CHARS_PER_TOKEN)


def fit(make: Callable[[list[Any]], A], items: list[Any], max_tokens: int, narrow: str) -> A:
    """`make(items)`, or `make` of the longest prefix of `items` that fits `max_tokens` (binary
    search on the prefix length), marked as cut with `narrow`: how to ask for less."""
    whole = make(items)
    if tokens(whole) <= max_tokens:
        return whole

    def cut(n: int) -> A:
        out = make(items[:n])
        out.truncated = True
        out.note = f"cut to {n} of {len(items)} to stay within {max_tokens:,} tokens; {narrow}"
        return out

    lo, hi = 0, len(items) - 1  # the longest prefix that fits, note included, is in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if tokens(cut(mid)) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return cut(lo)
