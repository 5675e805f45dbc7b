"""The reply formats of the generation templates, each a registry entry (`formats.py`): its line
reader (`lines.py`), its synthetic reply (`synthetic.py`) and its pydantic model, sent as a
JSON-schema `response_format` (OpenAI structured outputs; vLLM, llama.cpp and Ollama take the same
field) and read back into exactly what the line reader returns.

A template names its reply format in its header (`reply: attributes`); the model's schema may
depend on the call's parser arguments (how many intentions, which answer letters), so each spec
builds its model per argument set. The schema keeps to the keywords OpenAI's strict mode accepts
(types, `enum`, `pattern`, `minItems`/`maxItems`, all fields required, no extra fields): word
limits become a `pattern`, which grammar-constrained servers (llama.cpp) enforce while decoding.
After validation the same checks as the line readers run (word limits, duplicates), so a reply
is held to one standard whatever its wire format, and a failure reads as a correction the model
can act on."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.config import JsonDict

from . import synthetic
from .formats import ReplyFormat, register_format
from .lines import (
    ExtractedAttributes,
    FilterVerdict,
    Objective,
    ParseError,
    TreeIntention,
    checked_attributes,
    checked_purchase_intentions,
    parse_attributes,
    parse_cobuy_intention,
    parse_free_text,
    parse_intentions,
    parse_objectives,
    parse_purchase_intentions,
    parse_steps,
    parse_verdict,
)


def words(n: int) -> str:
    """A pattern for 1..n words of at most 24 characters (no quotes or backslashes: plain text)."""
    return rf'^[^ "\\]{{1,24}}( [^ "\\]{{1,24}}){{0,{n - 1}}}$'


def text(n: int) -> JsonDict:
    """A one-line text of 1..n characters. Bounded strings matter: a small model under a grammar
    otherwise repeats itself to the token limit inside one string."""
    return {"pattern": rf'^[^"\\\n\r]{{1,{n}}}$'}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NameValue(_Strict):
    name: str = Field(description="the attribute's name", json_schema_extra={"pattern": words(3)})
    value: str = Field(description="its value", json_schema_extra={"pattern": words(3)})


class TreeAttribute(_Strict):
    name: str = Field(description="the attribute's name", json_schema_extra={"pattern": words(4)})
    value: str = Field(description="its value", json_schema_extra={"pattern": words(6)})


class AttributesReply(_Strict):
    category: str = Field(description="the 'Category' line: the general kind of product", json_schema_extra={"pattern": words(3)})
    attributes: list[NameValue] = Field(description="the 'Attributes' pairs", min_length=1, max_length=8)


_LINE = Annotated[str, Field(json_schema_extra=text(200))]  # one step, one purchase intention


_GIVE = re.compile(r"\b[Gg]ive (\d+)\b")


def given_n(prompt: str) -> dict[str, Any]:
    """`n` as the bundled templates ask for it ("give 3 …")."""
    m = _GIVE.search(prompt)
    return {"n": int(m.group(1))} if m else {}


class _Attributes(ReplyFormat):
    name = "attributes"

    def read(self, text: str, **args: Any) -> Any:
        return parse_attributes(text, **args)

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        return synthetic.attributes(rng, args)

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        return AttributesReply

    def value(self, reply: Any, args: dict[str, Any]) -> ExtractedAttributes:
        return checked_attributes(reply.category, [(a.name, a.value) for a in reply.attributes], int(args.get("max_words", 3)))

    def dump(self, value: ExtractedAttributes, args: dict[str, Any]) -> dict[str, Any]:
        return {"category": value.category, "attributes": [{"name": n, "value": v} for n, v in value.attributes]}


class _Intentions(ReplyFormat):
    name = "intentions"

    def read(self, text: str, **args: Any) -> Any:
        return parse_intentions(text, **args)

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        return synthetic.intentions(rng, args)

    def prompt_args(self, prompt: str) -> dict[str, Any]:
        return given_n(prompt)

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        n, comparison = int(args.get("n", 1)), bool(args.get("comparison", True))
        return _intentions_model(n, comparison)

    def value(self, reply: Any, args: dict[str, Any]) -> list[TreeIntention]:
        out = []
        for i, it in enumerate(reply.intentions, 1):
            text, rationale = it.intention.strip(), it.rationale.strip()
            if not text:
                raise ParseError(f"intention {i} is empty")
            if not rationale:
                raise ParseError(f"intention {i} has an empty rationale")
            aspect = cmp_text = None
            if args.get("comparison", True):
                cmp_text = it.comparison.strip()
                aspect = it.comparison_aspect.strip() or None
                if not cmp_text:
                    raise ParseError(f"intention {i} has an empty comparison")
            out.append(
                TreeIntention(
                    text=text.rstrip("."),
                    attribute=(it.attribute.name.strip(), it.attribute.value.strip()),
                    rationale=rationale,
                    comparison_aspect=aspect,
                    comparison=cmp_text,
                )
            )
        return out

    def dump(self, value: list[TreeIntention], args: dict[str, Any]) -> dict[str, Any]:
        items = []
        for t in value:
            d: dict[str, Any] = {
                "intention": t.text,
                "attribute": {"name": t.attribute[0], "value": t.attribute[1]} if t.attribute else None,
                "rationale": t.rationale,
            }
            if args.get("comparison", True):
                d |= {"comparison_aspect": t.comparison_aspect or "", "comparison": t.comparison or ""}
            items.append(d)
        return {"intentions": items}


@lru_cache(maxsize=64)
def _intentions_model(n: int, comparison: bool) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "intention": (str, Field(description="the 'New Intention' line: what the customer wants to achieve, in one sentence", json_schema_extra=text(300))),
        "attribute": (TreeAttribute, Field(description="the 'Attribute' line: the product attribute that matters most for it")),
        "rationale": (str, Field(description="the 'Rationale' line: facet: why that attribute serves the intention", json_schema_extra=text(300))),
    }
    if comparison:
        fields["comparison_aspect"] = (str, Field(description="the aspect the 'Comparison' line compares", json_schema_extra={"pattern": words(6)}))
        fields["comparison"] = (str, Field(description="the 'Comparison' line: how this product compares with the previous ones", json_schema_extra=text(300)))
    item = create_model("TreeIntentionReply", __base__=_Strict, **fields)
    hypotheses = Field(min_length=n, max_length=n, description=f"exactly {n} hypotheses")
    return create_model(f"TreeIntentions{n}", __base__=_Strict, intentions=(list[item], hypotheses))  # type: ignore[valid-type]


class _Text(ReplyFormat):
    """One free text under one field (MIND's features, a co-buy intention)."""

    def __init__(self, name: str, field: str, description: str, read: Callable[..., str], fake: Callable[..., str], chars: int) -> None:
        self.name, self.field, self._read, self._fake = name, field, read, fake
        fields: dict[str, Any] = {field: (str, Field(description=description, json_schema_extra=text(chars)))}
        self._model = create_model(f"{name.title().replace('_', '')}Reply", __base__=_Strict, **fields)

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        return self._model

    def read(self, text: str, **args: Any) -> str:
        return self._read(text, **args)

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        return self._fake(rng, args)

    def value(self, reply: Any, args: dict[str, Any]) -> str:
        return self._read(getattr(reply, self.field), **args)

    def dump(self, value: str, args: dict[str, Any]) -> dict[str, Any]:
        return {self.field: value}


class VerdictReply(_Strict):
    answer: Literal["Yes", "No"] = Field(description="Yes or No")
    reason: str = Field(description="the reason, in one sentence", json_schema_extra=text(300))


class _Verdict(ReplyFormat):
    name = "verdict"

    def read(self, text: str, **args: Any) -> Any:
        return parse_verdict(text, **args)

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        return synthetic.verdict(rng, args)

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        return VerdictReply

    def value(self, reply: Any, args: dict[str, Any]) -> FilterVerdict:
        return FilterVerdict(accepted=reply.answer == "Yes", reason=reply.reason.strip() or None)

    def dump(self, value: FilterVerdict, args: dict[str, Any]) -> dict[str, Any]:
        return {"answer": "Yes" if value.accepted else "No", "reason": value.reason or ""}


class ObjectiveReply(_Strict):
    objective: str = Field(description="the 'Objective' line", json_schema_extra=text(200))
    specific_goal: str = Field(description="the 'Specific Goal' line", json_schema_extra=text(200))
    constraint: str = Field(description="the 'Constraint' line", json_schema_extra=text(200))


class _Objectives(ReplyFormat):
    name = "objectives"

    def read(self, text: str, **args: Any) -> Any:
        return parse_objectives(text, **args)

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        return synthetic.objectives(rng, args)

    def prompt_args(self, prompt: str) -> dict[str, Any]:
        return given_n(prompt)

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        return _list_model("Objectives", "objectives", ObjectiveReply, int(args.get("n", 1)), int(args.get("n", 1)))

    def value(self, reply: Any, args: dict[str, Any]) -> list[Objective]:
        out = [
            Objective(objective=o.objective.strip().rstrip("."), specific_goal=o.specific_goal.strip() or None, constraint=o.constraint.strip() or None)
            for o in reply.objectives
        ]
        if any(not o.objective for o in out):
            raise ParseError("an objective is empty")
        return out

    def dump(self, value: list[Objective], args: dict[str, Any]) -> dict[str, Any]:
        return {"objectives": [{"objective": o.objective, "specific_goal": o.specific_goal or "", "constraint": o.constraint or ""} for o in value]}


class _Steps(ReplyFormat):
    name = "steps"

    def read(self, text: str, **args: Any) -> Any:
        return parse_steps(text, **args)

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        return synthetic.steps(rng, args)

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        return _list_model(
            "Steps", "steps", _LINE, int(args.get("min_steps", 2)), int(args.get("max_steps", 30)), "the steps in order, each one short imperative sentence"
        )

    def value(self, reply: Any, args: dict[str, Any]) -> list[str]:
        steps = [s.strip().rstrip(".").strip() for s in reply.steps]
        steps = [re.sub(r"^(?:step\s*)?\d{1,2}\s*[.):]\s*", "", s, flags=re.IGNORECASE) for s in steps]
        if any(not s for s in steps):
            raise ParseError("a step is empty")
        return steps

    def dump(self, value: list[str], args: dict[str, Any]) -> dict[str, Any]:
        return {"steps": list(value)}


class _PurchaseIntentions(ReplyFormat):
    name = "purchase_intentions"

    def read(self, text: str, **args: Any) -> Any:
        return parse_purchase_intentions(text, **args)

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        return synthetic.purchase_intentions(rng, args)

    def prompt_args(self, prompt: str) -> dict[str, Any]:
        return given_n(prompt)

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        n = int(args.get("n", 1))
        return _list_model("PurchaseIntentions", "intentions", _LINE, n, n, f"exactly {n} distinct purchase intentions")

    def value(self, reply: Any, args: dict[str, Any]) -> list[str]:
        return checked_purchase_intentions(reply.intentions, int(args.get("n", 1)))

    def dump(self, value: list[str], args: dict[str, Any]) -> dict[str, Any]:
        return {"intentions": list(value)}


@lru_cache(maxsize=64)
def _list_model(title: str, field: str, item: Any, lo: int, hi: int, description: str = "") -> type[BaseModel]:
    fields: dict[str, Any] = {field: (list[item], Field(min_length=lo, max_length=hi, description=description or field))}
    return create_model(f"{title}{lo}to{hi}", __base__=_Strict, **fields)


for _format in (
    _Attributes(),
    _Intentions(),
    _Verdict(),
    _Objectives(),
    _Steps(),
    _PurchaseIntentions(),
    _Text("free_text", "description", "the description asked for", parse_free_text, synthetic.free_text, 1200),
    _Text("cobuy_intention", "intention", "the co-buy intention, one or two sentences", parse_cobuy_intention, synthetic.cobuy_intention, 600),
):
    register_format(_format)
