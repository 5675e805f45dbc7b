"""What an ingest did, in the one form the CLI, the Python API and the tests all read."""

from __future__ import annotations

from pydantic import BaseModel, model_validator

from ..errors import FormatError
from ..kb.store import WriteStats


class IngestSummary(BaseModel):
    kind: str
    format: str
    file: str
    read: int
    loaded: int
    rejected: int
    rejects_file: str | None = None
    written: WriteStats = WriteStats()
    seconds: float = 0.0
    mode: str = "merge"  # "bulk": built with GRAPH.BULK into an empty graph
    error: str | None = None  # why the load failed (file broken mid-way, every record rejected)
    first_reject: str | None = None  # "line N: reason" of the first rejected record

    @model_validator(mode="after")
    def _balanced(self) -> IngestSummary:
        if self.read != self.loaded + self.rejected:
            raise ValueError(f"read {self.read} != loaded {self.loaded} + rejected {self.rejected}")
        return self

    def line(self) -> str:
        how = f"{self.kind}/{self.format}" + (", bulk" if self.mode == "bulk" else "")
        text = f"{self.file} [{how}]: read {self.read} = loaded {self.loaded} + rejected {self.rejected}"
        if self.rejected and self.rejects_file:
            text += f" (rejects: {self.rejects_file})"
        return text + f"; {self.written.nodes_created} nodes, {self.written.relationships_created} edges created in {self.seconds:.1f}s"


class IngestFailed(FormatError):
    """A load that kept what it could but failed: the file broke mid-way, or no record was good."""

    def __init__(self, summary: IngestSummary) -> None:
        super().__init__(summary.error or "ingest failed")
        self.summary = summary
