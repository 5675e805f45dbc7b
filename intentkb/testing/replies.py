"""What the scripted server answers: the reply format of the template a request came from, and a
synthetic completion in it (the same prompt always gets the same reply).

The server is told nothing: it recognises the template by the runs of fixed text each bundled
template has (a request is ordinary OpenAI wire, live or in a batch file), takes the template's
`reply:` format, and asks that format what the prompt states (`prompt_args`: how many items, which
letters) and for a reply (`synthetic`, or `dump` of its value for a JSON-schema request)."""

from __future__ import annotations

import json
import re
import time
import uuid
from functools import lru_cache
from typing import Any

from ..prompts.formats import reply_format, reply_formats, seeded
from ..prompts.templates import Prompts, Template

_JSON_HINT = "\n\nWrite the answer as one JSON object"
_TAG = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}")


def _fixed_lines(t: Template) -> tuple[str, ...]:
    """The user section's runs of fixed text (between template tags, within a line), long enough to
    tell templates apart."""
    body = "\n".join(b for role, b in t.sections if role == "user")
    runs = (run.strip() for line in body.splitlines() for run in _TAG.split(line))
    return tuple(s for s in runs if len(s) >= 25)


Signatures = tuple[tuple[Template, tuple[str, ...]], ...]


def signatures(prompts: Prompts | None = None) -> Signatures:
    """Each template's fixed runs: the bundled ones, or those `prompts` gives (a user's directory first)."""
    p = prompts or Prompts()
    return tuple((t, _fixed_lines(t)) for t in (p.get(n) for n in p.names()) if _fixed_lines(t))


_bundled = lru_cache(maxsize=1)(signatures)


def template_of(prompt: str, known: Signatures | None = None) -> Template | None:
    """The template whose fixed text the prompt holds most of (runs inside a template's
    `{% if %}` blocks may be missing; runs shared by two templates count for both)."""
    best, score = None, 0
    for t, runs in known or _bundled():
        found = sum(len(s) for s in runs if s in prompt)
        if found > score:
            best, score = t, found
    return best


def reply_of(request: dict[str, Any], known: Signatures | None = None) -> tuple[str, dict[str, Any]]:
    """(reply format, its arguments) of a chat request; free text when no template matches."""
    messages = request.get("messages") or []
    prompt = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "user").split(_JSON_HINT)[0]
    t = template_of(prompt, known)
    asked = (request.get("response_format") or {}).get("json_schema") or {}
    name = str(asked["name"]) if asked.get("name") in reply_formats() else t.reply if t else "free_text"  # a schema names its format
    args = {**(t.reply_args if t else {}), **reply_format(name).prompt_args(prompt)}
    schema = asked.get("schema") or {}
    if "enum" in (schema.get("properties") or {}).get("answer", {}):  # a choice schema lists the letters
        args |= {"letters": schema["properties"]["answer"]["enum"], "cot": "reasoning" in schema["properties"]}
    return name, args


def completion(request: dict[str, Any], name: str, args: dict[str, Any], behaviour: str = "ok") -> dict[str, Any]:
    messages = request.get("messages") or []
    seed = json.dumps(messages, sort_keys=True)
    fmt = reply_format(name)
    content = fmt.synthetic(seeded(seed), args)
    if ((request.get("response_format") or {}).get("json_schema") or {}).get("name"):
        content = _json_reply(name, content, args, seed)
    finish = "stop"
    if behaviour == "unusable":
        content = "I am sorry, but I cannot help with that request."
    elif behaviour == "truncated":
        content, finish = content[: max(1, len(content) // 3)], "length"
    prompt_tokens = sum(len(_text(m.get("content"))) for m in messages) // 4 + 4 * len(messages)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "scripted"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(content) // 4, "total_tokens": prompt_tokens + len(content) // 4},
    }


def _json_reply(name: str, text: str, args: dict[str, Any], seed: str) -> str:
    """The JSON form of the synthetic line reply's value; a task answer's value is one of the
    letters (its line reply is the text a model wrote around the letter)."""
    fmt = reply_format(name)
    if name == "choice":
        letters = list(args.get("letters") or ["A", "B"])
        value: Any = letters[int.from_bytes(seed.encode()[-4:], "big") % len(letters)]
    else:
        value = fmt.read(text, **args)
    return json.dumps(fmt.dump(value, args))


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")
