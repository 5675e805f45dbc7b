"""A running `intentkb serve`, found by the CLI: the server records where it listens in
`DATA_DIR/serve.json` (0600) while it runs, and `intentkb retrieve` asks it instead of loading
torch, the model and the indexes itself when that record names a live server of the same graph."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..config import Settings
from ..errors import IntentKBError
from ..private import private_write_text

TOKEN = re.compile(r"[\x21-\x7e]+")  # a bearer token: what an Authorization header carries as one word

if TYPE_CHECKING:  # fastapi, under the limits, is for the server only: `intentkb retrieve` looks for one
    from .limits import ApiLimits

RECORD = "serve.json"


def record_path(settings: Settings) -> Path:
    return settings.data_dir / RECORD


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    limits: ApiLimits | None = None,
    log_level: str = "warning",
    reranker: str | None = None,
    workers: int = 1,
) -> None:
    """Run the API until interrupted (uvicorn), recorded in DATA_DIR/serve.json meanwhile. The
    record (0600, in the 0700 data directory) holds the token, so the same user's `intentkb
    retrieve` can use the server without the token in its environment or its argv."""
    import uvicorn

    from ..retrieval.keys import settings_key
    from .app import create_app
    from .limits import ApiLimits

    if workers > 1:
        # each worker process builds the app from the environment (uvicorn spawns them): the data
        # directory and graph in INTENTKB_*, the token in INTENTKB_SERVE_TOKEN (never in argv), the
        # rest in INTENTKB_SERVE_WORKER; every worker maps the same index files read-only
        os.environ.update(
            {
                "INTENTKB_HOME": str(settings.data_dir),
                "INTENTKB_GRAPH_URI": settings.graph_uri,
                "INTENTKB_GRAPH": settings.graph_name,
                "INTENTKB_SERVE_WORKER": json.dumps({"limits": (limits or ApiLimits()).model_dump(), "reranker": reranker, "host": host}),
            }
        )
        if token:
            os.environ["INTENTKB_SERVE_TOKEN"] = token
        else:  # a blank variable is no token here: the workers must not read it as one
            os.environ.pop("INTENTKB_SERVE_TOKEN", None)
        config = uvicorn.Config("intentkb.serve.worker:create", factory=True, host=host, port=port, log_level=log_level, access_log=False, workers=workers)
    else:
        config = uvicorn.Config(
            create_app(settings, token=token, limits=limits, reranker=reranker, host=host), host=host, port=port, log_level=log_level, access_log=False
        )
    server = uvicorn.Server(config)
    path = record_path(settings)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host  # an IPv6 address in a URL is bracketed
    private_write_text(
        path,
        json.dumps(
            {
                "url": f"http://{shown}:{port}",
                "pid": os.getpid(),
                "graph": settings.graph_name,
                "token": token,
                "reranker": reranker,
                "model": settings_key(settings),
                "vectors": settings.vector_backend,
            }
        ),
    )

    def forget() -> None:
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass

    def on_term(signum: int, frame: object) -> None:
        forget()
        raise SystemExit(0)

    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler found at start:
    # that handler is this one, so the record goes with the server
    signal.signal(signal.SIGTERM, on_term)
    try:
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    finally:
        forget()


class Found(NamedTuple):
    url: str
    token: str | None
    reranker: str | None = None  # the reranker's location when the server reranks


def find_server(settings: Settings, timeout: float = 0.5) -> Found | None:
    """A live `intentkb serve` of this data directory and graph whose store answers, with the token
    it asks for (from its record, else INTENTKB_SERVE_TOKEN); None when there is none, or when it
    asks for a token this process cannot know (the caller then works locally)."""
    try:  # a record edited by hand or left by another version: no server, never a traceback
        rec = json.loads(record_path(settings).read_text())
        os.kill(int(rec["pid"]), 0)
        url = rec["url"]
        if not isinstance(url, str) or not url.startswith("http://"):
            return None
    except (OSError, ValueError, KeyError, TypeError, OverflowError, AttributeError):
        return None
    if rec.get("graph") != settings.graph_name:
        return None
    from ..retrieval.keys import settings_key

    if rec.get("model") != settings_key(settings) or rec.get("vectors", "faiss") != settings.vector_backend:
        return None  # a server embedding with another model (or searching elsewhere) answers other questions
    token = rec.get("token") if isinstance(rec.get("token"), str) else (os.environ.get("INTENTKB_SERVE_TOKEN") or "").strip()
    if rec.get("token") is True and not token:
        return None  # an older record: it says a token is needed, not which
    if token and not TOKEN.fullmatch(token):  # it goes into a header: CR, LF or non-Latin-1 text was a traceback there
        raise IntentKBError("the token for the running intentkb serve (INTENTKB_SERVE_TOKEN or its record) is not printable ASCII without spaces")
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as r:
            health = json.loads(r.read())
    except (OSError, ValueError, http.client.HTTPException):  # not an HTTP server there (any more), or a URL that is not one
        return None
    if not isinstance(health, dict) or health.get("status") != "ok":
        return None
    rr = rec.get("reranker")
    return Found(url, token or None, rr if isinstance(rr, str) else None)


def call(url: str, path: str, body: dict[str, Any], token: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """POST `body` as JSON to a running server; its error detail as an IntentKBError."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            out = json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read()).get("detail")
        except (ValueError, AttributeError):
            detail = None
        raise IntentKBError(f"intentkb serve at {url}: HTTP {e.code}: {detail or e.reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as e:  # it went away, or what answers is not it
        raise IntentKBError(f"intentkb serve at {url} did not answer {path} ({type(e).__name__}); stop it or run the command again") from None
    if not isinstance(out, dict):
        raise IntentKBError(f"intentkb serve at {url} answered {path} with something other than a JSON object")
    return out
