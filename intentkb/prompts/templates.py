"""Prompt templates: one versioned file per pipeline step, bundled, overridable from a directory.

A template file is a header of `key: value` lines (version, reply, reply_args, max_tokens,
expect_tokens), then `--- system` and `--- user` sections in Jinja2. A user directory
(INTENTKB_PROMPTS_DIR or --prompts) holding a file of the same name replaces the bundled one, so
the papers' exact text can be used without touching intentkb."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from ..errors import IntentKBError
from ..kb.models import Relation
from ..registry import plugin_entries

log = logging.getLogger(__name__)

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
    reply: str = "free_text"  # the reply format (`formats.py`): how the answer is asked for and read
    reply_args: dict[str, Any] = Field(default_factory=dict)  # the format's arguments every call of this template has
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
    # `parser:`/`parser_args:` are the names of an earlier header: a file written for it still loads
    reply, legacy = meta.get("reply"), meta.get("parser")
    if reply and legacy and legacy != reply and legacy != "free_text":
        raise PromptError(f"{source}: 'parser: {legacy}' and 'reply: {reply}' name two formats; a template names one ('reply:')")
    reply = reply or legacy or "free_text"
    from .formats import reply_formats

    if reply not in reply_formats():
        raise PromptError(f"{source}: unknown reply format {reply!r} ({', '.join(reply_formats())})")
    try:
        args = json.loads(meta.get("reply_args") or meta.get("parser_args") or "{}")
        return Template(
            name=name,
            version=meta["version"],
            reply=reply,
            reply_args=args,
            max_tokens=int(meta.get("max_tokens", 512)),
            expect_tokens=int(meta.get("expect_tokens", 100)),
            sections=tuple(sections),
            digest=hashlib.sha256(text.encode()).hexdigest()[:16],
            source=source,
        )
    except (ValueError, json.JSONDecodeError) as e:
        raise PromptError(f"{source}: bad header: {e}") from e


# Where bundled templates live: the generation steps' here; a benchmark's task prompts in its own
# folder (`task_<benchmark>_t<N>.txt` in intentkb/tasks/<benchmark>/templates/); a plugin's in its
# package (entry-point group `intentkb.templates`, value "package:folder"). A user's directory (one
# folder) may replace any of them by file name.
BUNDLED: tuple[tuple[str, str], ...] = (("intentkb.prompts", "bundled"),)
TASKS = "intentkb.tasks"


@lru_cache(maxsize=1)
def template_folders() -> tuple[tuple[str, str], ...]:
    benchmarks = sorted(f"{TASKS}.{d.name}" for d in resources.files(TASKS).iterdir() if d.is_dir() and (d / "templates").is_dir())
    return (*BUNDLED, *((b, "templates") for b in benchmarks), *_plugin_folders())


@lru_cache(maxsize=1)
def _bundled_names() -> frozenset[str]:
    folders = [*BUNDLED, *((f"{TASKS}.{d.name}", "templates") for d in resources.files(TASKS).iterdir() if d.is_dir() and (d / "templates").is_dir())]
    return frozenset(f.name for package, folder in folders for f in (resources.files(package) / folder).iterdir())


def _plugin_folders() -> list[tuple[str, str]]:
    """The plugins' template folders that exist (a wrong entry is its own warning, not every template's failure)."""
    out = []
    for name, value in plugin_entries("intentkb.templates").items():
        package, _, folder = value.partition(":")
        try:
            ok = bool(folder) and (resources.files(package) / folder).is_dir()
        except (ImportError, TypeError, ValueError) as e:
            ok, why = False, str(e)
        else:
            why = f"no folder {folder!r} in package {package!r}"
        if ok:
            shadowed = sorted(f.name for f in (resources.files(package) / folder).iterdir() if f.name.endswith(".txt") and f.name in _bundled_names())
            if shadowed:
                log.warning("templates of plugin %r named like intentkb's are not used (intentkb's come first): %s", name, ", ".join(shadowed))
            out.append((package, folder))
        else:
            log.warning("template folder of plugin %r (%s) is not used: %s", name, value, why)
    return out


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
        for package, folder in template_folders():
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

    def names(self) -> list[str]:
        """Every template this Prompts can give: bundled and the user's directory's."""
        found = {f.name for package, folder in template_folders() for f in (resources.files(package) / folder).iterdir()}
        found |= {f.name for f in self.directory.iterdir()} if self.directory else set()
        return sorted(n.removesuffix(".txt") for n in found if n.endswith(".txt"))

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
