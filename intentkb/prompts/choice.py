"""The reply format of benchmark task prompts: one option letter (with CoT, the reasoning first).
The letters come with the call, so the JSON schema allows exactly the item's options; the line
form is the model's text, from which evaluation reads the letter as its protocol says."""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from . import synthetic
from .formats import ReplyFormat, register_format
from .lines import parse_free_text
from .replies import text

_OPTION = re.compile(r"^([A-J])\. ", re.M)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Choice(ReplyFormat):
    name = "choice"

    def read(self, text: str, **args: Any) -> str:
        return parse_free_text(text, **{"min_chars": 1, **args})

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        return synthetic.choice(rng, args)

    def prompt_args(self, prompt: str) -> dict[str, Any]:
        head = prompt.split("Examples")[0]  # the task's own options, not the worked examples'
        return {"letters": sorted(set(_OPTION.findall(head))) or ["A", "B"], "cot": "letter alone" in prompt}

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        return _choice_model(tuple(args.get("letters") or ("A", "B")), bool(args.get("cot")))

    def value(self, reply: Any, args: dict[str, Any]) -> str:
        return str(reply.answer)

    def dump(self, value: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"reasoning": "", "answer": value} if args.get("cot") else {"answer": value}


@lru_cache(maxsize=64)
def _choice_model(letters: tuple[str, ...], cot: bool) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    if cot:  # reasoning first: the letter is decided after it, as in the CoT protocol
        fields["reasoning"] = (str, Field(description="your reasoning, in a few sentences", json_schema_extra=text(1000)))
    fields["answer"] = (Literal[letters], Field(description="the letter of your choice"))
    return create_model("ChoiceCot" if cot else "Choice", __base__=_Strict, **fields)


register_format(Choice())
