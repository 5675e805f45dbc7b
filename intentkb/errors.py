"""Errors that the CLI turns into a one-line reason and a non-zero exit."""


class IntentKBError(Exception):
    """A failure the user can act on; its message is the whole explanation."""


class FormatError(IntentKBError):
    """The input file is unreadable or not in the format asked for; nothing was written."""


class StoreError(IntentKBError):
    """The graph store could not be reached, started or queried."""


class ReadOnlyViolation(StoreError):
    """A write was attempted through a read-only query path."""


class QueryRefused(StoreError):
    """A query or parameter refused before it was sent; nothing ran."""


class QueryTimedOut(StoreError):
    """A query stopped at its time limit (each caller says how to raise it in its own words)."""
