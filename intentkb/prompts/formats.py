"""Reply formats: what a template's `reply:` line names, one registry entry each. An entry knows
everything about its format, so nothing else has to: its line form (`read`), its JSON form (`model`,
`value`, `dump`: sent as a JSON-schema `response_format`, read back through the same checks), a
synthetic reply for dry runs and the scripted test server (`synthetic`), and what a rendered
prompt of the format asks for (`prompt_args`: how many items, which letters), which is how that
server answers a request without being told its format.

Adding a format is a `ReplyFormat` subclass registered with `register_format` (in `replies.py`,
`choice.py`, or a plugin's module under the `intentkb.reply_formats` entry-point group)."""

from __future__ import annotations

import hashlib
import random
from typing import Any, Literal

from pydantic import BaseModel

from ..registry import Registry
from .lines import ParseError

MODULES: tuple[str, ...] = ("intentkb.prompts.replies", "intentkb.prompts.choice")

Mode = Literal["json", "lines"]  # the two forms of every format
OUTPUT_MODES: tuple[str, ...] = ("auto", "json", "lines")  # auto: JSON where the endpoint takes a schema


class ReplyFormat:
    """One reply format. `read` and `synthetic` are required; a format without `model` is asked
    for in lines only (`json = False`)."""

    name: str = ""
    json: bool = True

    def read(self, text: str, **args: Any) -> Any:
        """The value of a line reply; ParseError says what to fix (sent back as a correction)."""
        raise NotImplementedError

    def model(self, args: dict[str, Any]) -> type[BaseModel]:
        raise NotImplementedError

    def value(self, reply: Any, args: dict[str, Any]) -> Any:
        """The value of a validated JSON reply: what `read` returns for the same answer."""
        raise NotImplementedError

    def dump(self, value: Any, args: dict[str, Any]) -> dict[str, Any]:
        """The JSON reply a value comes from."""
        raise NotImplementedError

    def synthetic(self, rng: random.Random, args: dict[str, Any]) -> str:
        """A line reply `read` accepts with `args`."""
        raise NotImplementedError

    def prompt_args(self, prompt: str) -> dict[str, Any]:
        """The call's arguments as a rendered prompt of this format states them."""
        return {}


_FORMATS: Registry[ReplyFormat] = Registry("reply format", MODULES, lambda f: f.name, lambda f: type(f).__module__, group="intentkb.reply_formats")
register_format = _FORMATS.register
reply_formats = _FORMATS.all


def reply_format(name: str | None) -> ReplyFormat:
    """The format `name` (None: free text, a template that declares none)."""
    found = reply_formats().get(name or "free_text")
    if found is None:
        raise ParseError(f"no reply format {name!r} ({', '.join(reply_formats())})")
    return found


def seeded(seed: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.blake2b(seed.encode("utf-8"), digest_size=8).digest(), "big"))


def synthetic_reply(name: str | None, args: dict[str, Any], seed: str) -> str:
    """A reply in format `name` that is the same for the same seed (the prompt's cache key)."""
    return reply_format(name).synthetic(seeded(seed), args)
