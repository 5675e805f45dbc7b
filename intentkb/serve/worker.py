"""One process of `intentkb serve --workers N`: the app built from what the supervisor left in the
environment (module `running`), so that uvicorn can spawn it by import path."""

from __future__ import annotations

import json
import os

from fastapi import FastAPI

from ..config import Settings
from .app import create_app
from .limits import ApiLimits


def create() -> FastAPI:
    conf = json.loads(os.environ.get("INTENTKB_SERVE_WORKER") or "{}")
    return create_app(
        Settings(),
        token=(os.environ.get("INTENTKB_SERVE_TOKEN") or "").strip() or None,  # as the supervisor read it
        limits=ApiLimits.model_validate(conf.get("limits") or {}),
        reranker=conf.get("reranker"),
        host=conf.get("host") or "127.0.0.1",
    )
