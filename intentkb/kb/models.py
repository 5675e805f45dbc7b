"""pydantic models of every node and edge; validation here is what keeps the graph clean.

Text fields are stripped of control characters (a NUL cannot travel in a Cypher parameter) and
empty strings become None, so that `SET n += props` never writes junk. Numbers must be finite.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if not isinstance(v, str):
        return v
    v = _CONTROL.sub("", v).strip()
    return v or None


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("must be a finite number, not NaN or infinity")
    return v


def _required(v: Any) -> Any:
    v = clean_text(v)
    if v is None:
        raise ValueError("must not be empty")
    return v


def _int_text(v: Any) -> Any:
    """Ids that arrive as JSON numbers (123) are the same ids as "123"."""
    return str(v) if isinstance(v, int) else v


# Longest text a property may hold: a title, a name, an intention (64 Ki characters), and a
# description or extracted features (1 Mi, the CSV reader's field limit). Longer is a reject with
# the reason, never stored as is (a 60 MB title used to load).
MAX_TEXT = 1 << 16
MAX_LONG_TEXT = 1 << 20


def _at_most(limit: int) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if isinstance(v, str) and len(v) > limit:
            raise ValueError(f"{len(v):,} characters, the limit is {limit:,}")
        return v

    return check


Text = Annotated[str, BeforeValidator(_required), AfterValidator(_at_most(MAX_TEXT))]
Key = Annotated[str, BeforeValidator(lambda v: _required(_int_text(v)))]  # required text; a number reads as its digits
OptKey = Annotated[str | None, BeforeValidator(lambda v: clean_text(_int_text(v)))]
NumStr = Annotated[str, BeforeValidator(_int_text)]
OptText = Annotated[str | None, BeforeValidator(clean_text), AfterValidator(_at_most(MAX_TEXT))]
LongText = Annotated[str | None, BeforeValidator(clean_text), AfterValidator(_at_most(MAX_LONG_TEXT))]
Id = Annotated[str, BeforeValidator(_required), Field(max_length=512)]
Finite = Annotated[float | None, BeforeValidator(_finite)]


class Label(str, Enum):
    PRODUCT = "Product"
    ATTRIBUTE = "Attribute"
    SESSION = "Session"
    INTENTION = "Intention"
    SCRIPT = "Script"
    STEP = "Step"


class Relation(str, Enum):
    """The 20 commonsense relations of MIND (Table 1), in one canonical spelling."""

    EFFECT = "effect"
    MANNER_OF = "mannerOf"
    IS_A = "isA"
    OTHER = "other"
    MADE_OF = "madeOf"
    SIMILAR_TO = "similarTo"
    USED_FOR = "usedFor"
    CAN = "can"
    CAUSE_DESIRE = "causeDesire"
    RELATED_TO = "relatedTo"
    PART_OF = "partOf"
    OPEN = "open"
    CREATED_BY = "createdBy"
    DERIVE_FROM = "deriveFrom"
    DEFINED_AS = "definedAs"
    PROPERTY_OF = "propertyOf"
    CAPABLE_OF = "capableOf"
    CAUSE = "cause"
    SYMBOL_OF = "symbolOf"
    DISTINCT_FROM = "distinctFrom"

    @classmethod
    def parse(cls, raw: str) -> Relation:
        """Accept raw spellings seen in the data (`propertOf`, `CauseDesire`, `used_for`)."""
        key = re.sub(r"[^a-z]", "", raw.lower())
        key = _RELATION_ALIASES.get(key, key)
        for member in cls:
            if member.value.lower() == key:
                return member
        raise ValueError(f"unknown relation {raw!r} (expected one of: {', '.join(m.value for m in cls)})")


_RELATION_ALIASES = {"propertof": "propertyof", "derivedfrom": "derivefrom", "causes": "cause", "desire": "causedesire"}


def _relation(v: Any) -> Any:
    return Relation.parse(v) if isinstance(v, str) else v


RelationField = Annotated[Relation, BeforeValidator(_relation)]


class Node(BaseModel):
    """Base of every node: a non-empty deterministic id, nothing unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)
    label: ClassVar[Label]

    id: Id

    def props(self) -> dict[str, Any]:
        """Properties to write; None is left out so a partial re-load never erases known values."""
        return self.model_dump(exclude_none=True)


class Product(Node):
    label: ClassVar[Label] = Label.PRODUCT
    asin: Id
    locale: OptText = None
    title: OptText = None
    brand: OptText = None
    color: OptText = None
    size: OptText = None
    model: OptText = None
    material: OptText = None
    author: OptText = None
    price: Finite = Field(default=None, ge=0)
    desc: LongText = None
    features: LongText = None  # model-extracted product features (MIND step 1)
    category: OptText = None
    image_urls: list[str] | None = None
    url: OptText = None
    source: OptText = None

    @field_validator("image_urls", mode="before")
    @classmethod
    def _urls(cls, v: Any) -> Any:
        if v is None:
            return None
        urls = [u for u in (clean_text(x) for x in v) if u]
        return urls or None


class Attribute(Node):
    label: ClassVar[Label] = Label.ATTRIBUTE
    name: Text = Field(min_length=1)
    value: Text = Field(min_length=1)


class Session(Node):
    label: ClassVar[Label] = Label.SESSION
    locale: OptText = None
    length: int = Field(ge=1)
    next_item: OptText = None
    source: OptText = None


IntentionKind = Literal["session", "cobuy", "purchase"]


class Intention(Node):
    label: ClassVar[Label] = Label.INTENTION
    text: Text = Field(min_length=1)
    kind: IntentionKind
    step: int | None = Field(default=None, ge=1)
    relation: RelationField | None = None
    rationale: OptText = None
    comparison_aspect: OptText = None
    comparison: OptText = None
    assertion: OptText = None
    typicality: Finite = None
    accepted: bool | None = None
    filter_reason: OptText = None
    model: OptText = None
    prompt_version: OptText = None
    source: OptText = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Intention:
        if self.kind == "session" and self.step is None:
            raise ValueError("a session intention needs its step")
        if self.kind == "cobuy" and self.relation is None:
            raise ValueError("a co-buy intention needs its relation")
        return self


# The properties a session tree's intention node can have, in the order the bulk path sends them
# (an engine may encode this shape faster than any row: millions of them make a paper-scale forest).
TREE_INTENTION_PROPS: tuple[str, ...] = ("id", "text", "kind", "step", "rationale", "comparison", "comparison_aspect", "model", "prompt_version", "source")


class Script(Node):
    label: ClassVar[Label] = Label.SCRIPT
    objective: Text = Field(min_length=1)
    specific_goal: OptText = None
    constraint: OptText = None
    category: OptText = None
    source_id: OptText = None
    source: OptText = None


class Step(Node):
    label: ClassVar[Label] = Label.STEP
    idx: int = Field(ge=1)
    text: Text = Field(min_length=1)


class EdgeType(str, Enum):
    VIEWED = "VIEWED"
    HAS_ATTRIBUTE = "HAS_ATTRIBUTE"
    ROOT = "ROOT"
    BRANCH = "BRANCH"
    AT = "AT"
    VALUES = "VALUES"
    CO_BOUGHT = "CO_BOUGHT"
    EXPLAINS = "EXPLAINS"
    HAS_STEP = "HAS_STEP"
    NEXT = "NEXT"
    ALIGNED = "ALIGNED"


# (source label, target label, allowed properties) of every edge type: the schema's edge contract.
EDGE_SCHEMA: dict[EdgeType, tuple[Label, Label, frozenset[str]]] = {
    EdgeType.VIEWED: (Label.SESSION, Label.PRODUCT, frozenset({"pos"})),
    EdgeType.HAS_ATTRIBUTE: (Label.PRODUCT, Label.ATTRIBUTE, frozenset()),
    EdgeType.ROOT: (Label.SESSION, Label.INTENTION, frozenset()),
    EdgeType.BRANCH: (Label.INTENTION, Label.INTENTION, frozenset()),
    EdgeType.AT: (Label.INTENTION, Label.PRODUCT, frozenset()),
    EdgeType.VALUES: (Label.INTENTION, Label.ATTRIBUTE, frozenset()),
    EdgeType.CO_BOUGHT: (Label.PRODUCT, Label.PRODUCT, frozenset()),
    EdgeType.EXPLAINS: (Label.INTENTION, Label.PRODUCT, frozenset({"role"})),
    EdgeType.HAS_STEP: (Label.SCRIPT, Label.STEP, frozenset()),
    EdgeType.NEXT: (Label.STEP, Label.STEP, frozenset()),
    EdgeType.ALIGNED: (Label.STEP, Label.INTENTION, frozenset({"score"})),
}


class Edge(BaseModel):
    """A typed edge between two node ids; unknown types and properties are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EdgeType
    src: Id
    dst: Id
    props: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_props(self) -> Edge:
        allowed = EDGE_SCHEMA[self.type][2]
        unknown = set(self.props) - allowed
        if unknown:
            raise ValueError(f"{self.type.value} edges take no properties {sorted(unknown)}")
        for k, v in self.props.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"edge property {k} must be finite")
        return self

    @property
    def endpoints(self) -> tuple[Label, Label]:
        src, dst, _ = EDGE_SCHEMA[self.type]
        return src, dst
