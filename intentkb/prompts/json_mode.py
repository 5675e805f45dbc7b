"""Replies on the wire: a reply model's JSON schema as the `response_format` of a request (with
`$ref`s inlined, the form every server's schema reader takes), the shape shown to a model that
must be told in words, and the reading of a JSON reply back through the model's own checks. The
models themselves belong to the formats (`formats.py`)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from .formats import reply_format
from .lines import ParseError


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `$ref` replaced by its definition and pydantic's titles dropped:
    the plain form every server's schema reader takes."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[1]])
            return {k: walk(v) for k, v in node.items() if k not in ("$defs", "title")}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


@lru_cache(maxsize=256)
def _schema(name: str, frozen: str) -> str:
    model = reply_format(name).model(json.loads(frozen))
    return json.dumps(_inline(model.model_json_schema()))  # property order kept: it is the order of decoding


def json_schema(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of reply `name` under `args` (inlined; fields in the order they are to be written)."""
    return json.loads(_schema(name, json.dumps(args, sort_keys=True, default=str)))


def response_format(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The `response_format` field of a chat request asking for reply `name`."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": json_schema(name, args)}}


def shape(name: str, args: dict[str, Any]) -> str:
    """A short description of the JSON a reply must be, from the schema's field descriptions: for
    servers that constrain decoding by grammar the model never sees the schema itself."""

    def describe(node: dict[str, Any]) -> str:
        if node.get("type") == "object":
            inner = ", ".join(f'"{k}": {describe(v)}' for k, v in node.get("properties", {}).items())
            return "{" + inner + "}"
        if node.get("type") == "array":
            lo, hi = node.get("minItems"), node.get("maxItems")
            count = f" ({lo} items)" if lo is not None and lo == hi else ""
            return f"[{describe(node.get('items', {}))}, …]{count}"
        if "enum" in node:
            return " or ".join(json.dumps(v) for v in node["enum"])
        return f"<{node['description']}>" if node.get("description") else "<text>"

    return describe(json_schema(name, args))


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def looks_like_json(text: str) -> bool:
    body = _FENCE.sub(r"\1", text).lstrip()
    return body.startswith("{")


def read_json(name: str, text: str, args: dict[str, Any]) -> Any:
    """The value of a JSON reply, checked as the line reader checks its own; ParseError says what
    to fix (pydantic's first errors, by field path)."""
    body = _FENCE.sub(r"\1", text).strip()
    s = reply_format(name)
    try:
        reply = s.model(args).model_validate_json(body)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise ParseError("the reply is not one JSON object of the asked shape") from None
        parts = [f"{'.'.join(str(x) for x in err['loc']) or 'reply'}: {err['msg']}" for err in errors[:3]]
        raise ParseError("the JSON reply does not fit the schema (" + "; ".join(parts) + ")") from None
    return s.value(reply, args)
