"""Where rejected rows go: a JSONL file (file, line, reason, record) and a one-line message each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..private import private_open
from .sources import BadLine, Record, jsonl_dump


def explain(err: Exception) -> str:
    """One line for a rejected row: pydantic errors as `field: message; …`."""
    if isinstance(err, ValidationError):
        parts = []
        for e in err.errors(include_url=False):
            loc = ".".join(str(x) for x in e["loc"]) or "record"
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}")
        return "; ".join(parts)
    return str(err) or type(err).__name__


M = TypeVar("M", bound=BaseModel)

MAX_PRINTED = 50  # past this the console says how many more; the rejects file has them all


class RejectsJsonl:
    """A rejects file: created on the first reject, rewritten by each run, removed when a run has
    none (a clean re-run leaves no stale rejects behind)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = None

    def write(self, entry: dict[str, Any]) -> None:
        self.count += 1
        if self._fh is None:
            self._fh = private_open(self.path, "w", encoding="utf-8")
        try:
            line = jsonl_dump(entry)
        except (RecursionError, ValueError, TypeError):  # a record too deep or odd for JSON: kept as text
            line = jsonl_dump({**entry, "record": repr(entry.get("record"))[:2000]})
        self._fh.write(line + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh:
            self._fh.close()
        elif self.path.exists():
            self.path.unlink()


class RejectSink(RejectsJsonl):
    """Rejected rows of an input file: {file, line, reason, record}, and a one-line message each."""

    def __init__(self, path: Path, source: Path, echo: Callable[[str], None] | None) -> None:
        super().__init__(path)
        self.source = source
        self.echo = echo
        self.first: str | None = None  # "line N: reason" of the first reject

    def add(self, line: int, reason: str, raw: Any) -> None:
        self.first = self.first or f"line {line}: {reason}"
        record = str(raw) if isinstance(raw, BadLine) else raw
        self.write({"file": str(self.source), "line": line, "reason": reason, "record": record})
        if self.echo and self.count <= MAX_PRINTED:
            self.echo(f"{self.source}:{line}: rejected: {reason}")
        elif self.echo and self.count == MAX_PRINTED + 1:
            self.echo(f"{self.source}: more rejected rows; all are in {self.path}")


def validated(records: Iterable[Record], model: type[M], sink: RejectSink) -> Iterator[tuple[int, M, Any]]:
    """(line, model, raw record) of each record `model` accepts; the others go to `sink` with their
    line and reason. Every record read is either yielded or in the sink."""
    for line, raw in records:
        if isinstance(raw, BadLine):
            sink.add(line, raw.reason, raw)
            continue
        try:
            yield line, model.model_validate(raw), raw
        except ValidationError as e:
            sink.add(line, explain(e), raw)


def default_rejects_path(rejects_dir: Path, path: Path, what: str) -> Path:
    """Where the bad lines of reading `path` for `what` (an ingest kind, `score`, `mcq`, …) go by
    default: the knowledge base's rejects folder, never beside the input (which may be read-only,
    shared, or a dataset's own directory)."""
    return rejects_dir / f"{path.name}.{what}.rejects.jsonl"


def user_rejects_path(path: Path, what: str) -> Path:
    """`default_rejects_path` under the rejects folder of the settings in force (INTENTKB_HOME)."""
    from ..config import Settings

    return default_rejects_path(Settings().rejects_dir, path, what)
