"""Third-party noise off: intentkb reports its own progress, so libraries' bars stay hidden."""

from __future__ import annotations


def quiet_transformers() -> None:
    """No weight-loading bar on every model load: intentkb reports its own progress."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
