"""What the scripted server answers: the reply format a request asks for (declared by the client's
`X-Intentkb-Reply` header, or guessed from the prompt for batch lines) and a synthetic completion
in it (`intentkb.prompts.synthetic`: the same prompt always gets the same reply)."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from ..llm.responses import REPLY_HEADER
from ..prompts.synthetic import synthetic_reply

_JSON_HINT = "\n\nWrite the answer as one JSON object"


def reply_format(request: dict[str, Any], spec: dict[str, Any] | None) -> tuple[str, dict[str, Any], bool]:
    """(parser, its arguments, whether the request declared them)."""
    if spec and spec.get("parser"):
        return spec["parser"], dict(spec.get("args") or {}), True
    messages = request.get("messages") or []
    first_user = next((m for m in messages if m.get("role") == "user"), {"content": ""})
    parser, args = guess_format(_text(first_user.get("content")).split(_JSON_HINT)[0])
    return parser, args, False


def completion(request: dict[str, Any], parser: str, args: dict[str, Any], behaviour: str = "ok") -> dict[str, Any]:
    messages = request.get("messages") or []
    seed = json.dumps(messages, sort_keys=True)
    content = synthetic_reply(parser, args, seed)
    schema = (request.get("response_format") or {}).get("json_schema") or {}
    if schema.get("name"):
        content = _json_reply(schema, parser, args, content, seed)
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


def _json_reply(schema: dict[str, Any], parser: str, args: dict[str, Any], text: str, seed: str) -> str:
    """The JSON a model would write for reply model `schema["name"]`: the synthetic line reply's
    value in that model's form; a task answer is one of the schema's letters."""
    from ..prompts.lines import PARSERS
    from ..prompts.replies import spec

    name = schema["name"]
    if name == "choice":
        props = (schema.get("schema") or {}).get("properties") or {}
        letters = props.get("answer", {}).get("enum") or ["A", "B"]
        args = {"letters": letters, "cot": "reasoning" in props}
        value = letters[int.from_bytes(seed.encode()[-4:], "big") % len(letters)]
        out = spec(name).dump(value, args)
        if args["cot"]:
            out["reasoning"] = "The products and the stated intention point one way."
        return json.dumps(out)
    return json.dumps(spec(name).dump(PARSERS[parser](text, **args), args))


def request_spec(headers: dict[str, str]) -> dict[str, Any] | None:
    raw = headers.get(REPLY_HEADER.lower())
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return None


_N = re.compile(r"\b[Gg]ive (\d+)\b")


def guess_format(prompt: str) -> tuple[str, dict[str, Any]]:
    """Which bundled template a prompt came from, read from its text: for requests without the header."""
    m = _N.search(prompt)
    n = int(m.group(1)) if m else 1
    if "New Intention:" in prompt:
        return "intentions", {"n": n, "comparison": "Comparison:" in prompt.split("Example")[0]}
    if "Category:" in prompt and "Attributes:" in prompt:
        return "attributes", {}
    if "Answer Yes or No" in prompt:
        return "verdict", {}
    if "co-buy intention could be" in prompt:
        return "cobuy_intention", {}
    if "Objective:" in prompt and "Specific Goal:" in prompt and "Constraint:" in prompt and "Step 1" not in prompt:
        return "objectives", {"n": n}
    if '"Step 1:' in prompt:
        return "steps", {}
    if '"Intention 1:' in prompt:
        return "purchase_intentions", {"n": n}
    if "letter alone" in prompt or "letter only" in prompt or prompt.rstrip().endswith("Answer:"):
        head = prompt.split("Examples")[0]  # the task's own options, not the worked examples'
        letters = sorted(set(re.findall(r"^([A-J])\. ", head, re.M)))
        return "choice", {"letters": letters or ["A", "B"], "cot": "letter alone" in prompt}
    return "free_text", {}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")
