"""Readers for external formats → validated models → batched, idempotent writes."""

from .run import FORMATS, KINDS, ingest_file
from .summary import IngestFailed, IngestSummary

__all__ = ["FORMATS", "KINDS", "IngestFailed", "IngestSummary", "ingest_file"]
