"""Readers for external formats → validated models → batched, idempotent writes."""

from .run import FORMATS, KINDS, ingest_file  # noqa: F401
from .summary import IngestFailed, IngestSummary  # noqa: F401

__all__ = ["FORMATS", "KINDS", "IngestFailed", "IngestSummary", "ingest_file"]
