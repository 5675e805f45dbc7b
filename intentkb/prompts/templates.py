"""Prompt templates: one versioned file per pipeline step, bundled, overridable from a directory.

A template file is a header of `key: value` lines (version, parser, reply, parser_args, max_tokens,
expect_tokens), then `--- system` and `--- user` sections in Jinja2. A user directory
(INTENTKB_PROMPTS_DIR or --prompts) holding a file of the same name replaces the bundled one, so
the papers' exact text can be used without touching intentkb."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from ..errors import IntentKBError
from ..kb.models import Relation

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


def product_text(p: dict[str, Any] | None) -> str:
    """A product as a task prompt shows it: title, then brand, category and price when known."""
    if not p:
        return "(no product)"
    extra = [str(p[k]) for k in ("brand", "category") if p.get(k)]
    if p.get("price") not in (None, ""):
        extra.append(f"${p['price']}")
    title = p.get("title") or p.get("id") or "(untitled product)"
    return f"{title} ({', '.join(extra)})" if extra else str(title)


_ENV.filters["product"] = product_text
_ENV.filters["products"] = lambda ps: "; ".join(product_text(p) for p in ps)


class PromptError(IntentKBError):
    pass


@lru_cache(maxsize=256)
def _compiled(body: str) -> jinja2.Template:
    return _ENV.from_string(body)


class Template(BaseModel):
    """A parsed template; `version` ends up on every node it produced (`prompt_version`)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    version: str
    parser: str | None = None
    reply: str | None = None  # the reply model (prompts/replies.py) asked for as a JSON schema; None: line format only
    parser_args: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int = 512
    expect_tokens: int = 100
    sections: tuple[tuple[str, str], ...]
    digest: str
    source: str

    @property
    def prompt_version(self) -> str:
        return f"{self.name}-v{self.version}"

    def render(self, **values: Any) -> list[dict[str, str]]:
        """Chat messages (role, text) of this template filled with `values`."""
        out = []
        for role, body in self.sections:
            try:
                t = _compiled(body)
                # root_render_func on a shared context: the same text as t.render(), a third faster
                text = "".join(t.root_render_func(t.new_context({**_ENV.globals, **values}, shared=True))).strip()
            except jinja2.TemplateError as e:
                raise PromptError(f"{self.source}: {e}") from e
            out.append({"role": role, "content": text})
        return out


def parse_template(name: str, text: str, source: str) -> Template:
    head, sep, body = text.partition("\n--- ")
    if not sep:
        raise PromptError(f"{source}: no '--- system' or '--- user' section")
    meta: dict[str, Any] = {}
    for line in head.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise PromptError(f"{source}: header line {line!r} is not 'key: value'")
        meta[key.strip()] = value.strip()
    sections = []
    for chunk in ("--- " + body).split("\n--- "):
        role, _, content = chunk.removeprefix("--- ").partition("\n")
        role = role.strip()
        if role not in ("system", "user", "assistant"):
            raise PromptError(f"{source}: unknown section {role!r} (system, user or assistant)")
        sections.append((role, content))
    if "version" not in meta:
        raise PromptError(f"{source}: the header needs a 'version:' line")
    if meta.get("reply"):
        from .replies import REPLIES

        if meta["reply"] not in REPLIES:
            raise PromptError(f"{source}: unknown reply model {meta['reply']!r} ({', '.join(sorted(REPLIES))})")
    try:
        args = json.loads(meta.get("parser_args") or "{}")
        return Template(
            name=name,
            version=meta["version"],
            parser=meta.get("parser") or None,
            parser_args=args,
            reply=meta.get("reply") or None,
            max_tokens=int(meta.get("max_tokens", 512)),
            expect_tokens=int(meta.get("expect_tokens", 100)),
            sections=tuple(sections),
            digest=hashlib.sha256(text.encode()).hexdigest()[:16],
            source=source,
        )
    except (ValueError, json.JSONDecodeError) as e:
        raise PromptError(f"{source}: bad header: {e}") from e


# Where bundled templates live: the generation steps' beside the pipelines, the task prompts beside
# the task builders. A user's directory (one folder) may replace any of them by file name.
BUNDLED: tuple[tuple[str, str], ...] = (("intentkb.prompts", "bundled"), ("intentkb.tasks", "templates"))


class Prompts:
    """The templates in use: the user's directory first, then the bundled ones."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        if directory is not None and not directory.is_dir():
            raise PromptError(f"prompt directory {directory} does not exist")
        self._templates: dict[str, Template] = {}

    def _read(self, filename: str) -> tuple[str, str]:
        if self.directory is not None and (self.directory / filename).is_file():
            p = self.directory / filename
            return p.read_text(encoding="utf-8"), str(p)
        for package, folder in BUNDLED:
            res = resources.files(package) / folder / filename
            if res.is_file():
                return res.read_text(encoding="utf-8"), f"{package.replace('.', '/')}/{folder}/{filename}"
        raise PromptError(f"no prompt template {filename}")

    def get(self, name: str) -> Template:
        """The template `name`, read once per Prompts (a run): edits take effect on the next run."""
        t = self._templates.get(name)
        if t is None:
            t = self._templates[name] = parse_template(name, *self._read(f"{name}.txt"))
        return t

    def loaded(self) -> dict[str, Template]:
        """The templates this run has used so far (for its record: versions and digests)."""
        return dict(self._templates)

    def relation_phrases(self) -> dict[str, str]:
        text, source = self._read("relations.json")
        raw = {k: v for k, v in json.loads(text).items() if not k.startswith("_")}
        phrases = {}
        for k, v in raw.items():
            try:
                phrases[Relation.parse(k).value] = str(v).strip()
            except ValueError as e:
                raise PromptError(f"{source}: {e}") from e
        missing = sorted({r.value for r in Relation} - set(phrases))
        if missing:
            raise PromptError(f"{source}: no phrase for relation(s) {', '.join(missing)}")
        return phrases
