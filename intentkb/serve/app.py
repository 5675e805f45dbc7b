"""The HTTP API: retrieval, a script's products, read-only Cypher, health.

The model, the indexes and the store connection are opened once, when the server starts, so a
query costs one encode, two FAISS searches and one or two graph queries instead of the 12–14 s a
fresh `intentkb retrieve` spends importing torch and loading the model. Retrieval holds one lock
(the embedding cache, the model and the store connection are shared); text requests waiting at
the same moment are answered as one batch (module `batching`). Every request body is a
pydantic model (FastAPI validates it and documents it in `/openapi.json`); Cypher runs with the
same checks as `intentkb cypher` (read-only, bounded text and nesting, the query timeout). With a
token, every route but `/health` asks for `Authorization: Bearer TOKEN`.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi import Path as FastPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .. import __version__
from ..config import Settings
from ..errors import IntentKBError
from ..kb.guard import QueryRefused, ResultCaps, ResultTooLarge
from ..retrieval.fusion import ProductHit
from ..retrieval.retrieve import StepProducts
from .hosts import LOOPBACK, LoopbackOnly
from .limits import ApiLimits, SizeLimits, validation_error
from .state import KbState

MAX_DETAIL = 500  # characters of an error message


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    text: str | None = Field(default=None, min_length=1, max_length=10_000, description="A need, in words")
    script: str | None = Field(default=None, min_length=1, max_length=200, description="A script id: products for each of its steps")
    k: int = Field(default=10, ge=1, le=1000, strict=True)  # `true` is not a k of 1, nor "3" a k of 3
    threshold: float | None = Field(default=None, ge=-1, le=1, description="Least intention similarity")
    rerank: bool | None = Field(
        default=None, strict=True, description="Re-order the candidates with the server's reranker (`serve --rerank`); default: when it has one"
    )

    @model_validator(mode="after")
    def _one(self) -> RetrieveRequest:
        if (self.text is None) == (self.script is None):
            raise ValueError("give text or script, not both")
        return self


class RetrieveResponse(BaseModel):
    text: str | None = None
    script: str | None = None
    products: list[ProductHit] | None = None
    steps: list[StepProducts] | None = None


class CypherRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    query: str = Field(min_length=1, max_length=100_000, description="Cypher text or a named query (read-only)")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _finite(self) -> CypherRequest:
        stack: list[Any] = [self.params]
        while stack:
            v = stack.pop()
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError("parameters must hold finite numbers (no NaN or infinity)")
            if isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
        return self


class CypherResponse(BaseModel):
    rows: list[dict[str, Any]]


class Health(BaseModel):
    status: str = Field(description="ok; or starting, busy, down: the store does not answer a short query now (HTTP 503)")
    version: str
    graph: str
    store: dict[str, Any] = Field(default_factory=dict, description="The store's own report: engine, server state, restarts and why")
    indexes: dict[str, int]
    retrieve_requests: int = Field(description="Text requests answered since the start")
    retrieve_batches: int = Field(description="The batches they were answered in")
    reranker: str | None = Field(default=None, description="The reranker's directory when the server reranks (`serve --rerank`)")
    pid: int = Field(description="The process that answered (one of the workers of `serve --workers N`)")


class ErrorDetail(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorDetail, "description": "The request is valid but cannot be answered (no such script, no index, a refused query)"},
    401: {"model": ErrorDetail, "description": "A bearer token is required"},
    403: {"model": ErrorDetail, "description": "On loopback: the request came from a web page of another host (Origin)"},
    413: {"model": ErrorDetail, "description": "The request body or the query's parameters are over their size limit"},
    421: {"model": ErrorDetail, "description": "On loopback: the request names another host (Host), as a DNS-rebinding page would"},
    503: {"model": ErrorDetail, "description": "The store went down under the query (it is back), or outside queries are paused for a while"},
    422: {"description": "The request does not match its schema (where and what, never the value), or the answer is over its row or byte limit"},
}


def create_app(
    settings: Settings | None = None, *, token: str | None = None, limits: ApiLimits | None = None, reranker: str | None = None, host: str = "127.0.0.1"
) -> FastAPI:
    """The API; `reranker` (a trained cross-encoder's directory) re-orders every retrieval unless a
    request says `rerank: false`. `host` is where it listens: on loopback, requests must name a
    loopback host (module `hosts`)."""
    settings = settings or Settings()
    limits = limits or ApiLimits()
    caps = ResultCaps(max_rows=limits.max_rows, max_bytes=limits.max_response)
    state: dict[str, KbState] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st = state["s"] = KbState(settings, reranker)
        try:
            st.ready()  # load the model and indexes now, not on the first request
        except IntentKBError:
            pass  # no index yet: /retrieve says so; /cypher and /health work
        yield
        st.close()

    app = FastAPI(title="intentkb", version=__version__, lifespan=lifespan, description="Retrieval over a knowledge graph of e-commerce purchase intentions.")
    app.add_middleware(SizeLimits, limits=limits)
    if host in LOOPBACK:
        app.add_middleware(LoopbackOnly)  # added last: checked first
    app.add_exception_handler(RequestValidationError, validation_error)
    bearer = HTTPBearer(auto_error=False)

    def authorised(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        if creds is None or not hmac.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="a bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    guard = [Depends(authorised)] if token is not None else []  # documented in the OpenAPI only when required

    def _error(e: IntentKBError) -> HTTPException:
        text = str(e)
        detail = text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "…"  # a message may quote the request (an id)
        if isinstance(e, ResultTooLarge):
            return HTTPException(status_code=422, detail=detail)
        if type(e).__name__ == "OutsidePaused":  # the embedded store's breaker: try again later
            return HTTPException(status_code=503, detail=detail, headers={"Retry-After": str(max(1, round(getattr(e, "retry_after", 1))))})
        if type(e).__name__ == "StoreRestarted":  # the store went down under the query: not the client's doing
            return HTTPException(status_code=503, detail=detail)
        if isinstance(e, QueryRefused) and "bytes encoded" in text:
            return HTTPException(status_code=413, detail=detail)
        return HTTPException(status_code=400, detail=detail)

    @app.get("/health", response_model=Health, responses={503: {"model": Health, "description": "The store does not answer now"}})
    def health() -> Any:
        st = state["s"]
        r = st.retriever
        indexes = {} if r is None else {"intentions": r.index.meta.count, **({"products": r.products.meta.count} if r.products else {})}
        report = st.store.health()
        h = Health(
            status=str(report.get("status", "down")),
            version=__version__,
            graph=settings.graph_name,
            store=report,
            indexes=indexes,
            retrieve_requests=st.batcher.asked,
            retrieve_batches=st.batcher.batches,
            reranker=st.reranker_location,
            pid=os.getpid(),
        )
        return h if h.status == "ok" else JSONResponse(status_code=503, content=h.model_dump())

    @app.post("/retrieve", response_model=RetrieveResponse, dependencies=guard, responses=ERRORS)
    async def retrieve(req: RetrieveRequest) -> Any:
        st = state["s"]
        if req.rerank and not st.reranker_location:
            raise HTTPException(status_code=400, detail="this server has no reranker: start it with `intentkb serve --rerank NAME`")
        try:
            if req.text is not None:  # answered with the other requests waiting now (module batching)
                hits = await asyncio.wrap_future(st.batcher.submit(req.text, req.k, req.threshold, req.rerank is not False))
                return _json(RetrieveResponse(text=req.text, products=hits))
            steps = await asyncio.wrap_future(st.batcher.submit_script(req.script or "", req.k, req.threshold, req.rerank is not False))
            return _json(RetrieveResponse(script=req.script, steps=steps))
        except IntentKBError as e:
            raise _error(e) from None

    def _json(answer: RetrieveResponse) -> Any:
        """The answer serialised once by its own model (it is one already: FastAPI's response_model
        would validate and serialise it again, a third of a served retrieval's time)."""
        return Response(answer.model_dump_json(exclude_none=False), media_type="application/json")

    @app.get("/scripts/{script}/products", response_model=list[StepProducts], dependencies=guard, responses=ERRORS)
    async def script_products(script: str = FastPath(max_length=200), k: int = Query(10, ge=1, le=1000)) -> list[StepProducts]:
        st = state["s"]
        try:
            return await asyncio.wrap_future(st.batcher.submit_script(script, k, None))
        except IntentKBError as e:
            raise _error(e) from None

    queries = threading.BoundedSemaphore(limits.max_queries)

    @app.post(
        "/cypher",
        response_model=CypherResponse,
        dependencies=guard,
        responses={**ERRORS, 429: {"model": ErrorDetail, "description": "Too many queries at once"}},
    )
    def cypher(req: CypherRequest) -> CypherResponse:
        """Read-only Cypher. Queries wait for one of the store's query slots (up to their timeout);
        more than `max_queries` waiting at once would hold every worker thread of the server (and
        with them /health and script retrieval), so those are refused at once with 429."""
        if not queries.acquire(blocking=False):
            raise HTTPException(
                status_code=429, detail=f"{limits.max_queries} queries are running or waiting already; retry shortly", headers={"Retry-After": "1"}
            )
        st = state["s"]
        try:
            return CypherResponse(rows=st.store.run(req.query, req.params, write=False, timeout=settings.query_timeout, caps=caps))
        except IntentKBError as e:
            raise _error(e) from None
        finally:
            queries.release()

    return app
