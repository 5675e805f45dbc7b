"""The resources a long-running server holds (the HTTP API, the MCP server): opened once, shared
by every request, so a query costs an encode, a search and a graph query, not a model load."""

from __future__ import annotations

import threading

from ..config import Settings
from ..kb.engines import open_store
from ..kb.store import GraphStore
from ..retrieval.embeddings import Embedder, open_embedder
from ..retrieval.rerank import Reranker, reranker_options
from ..retrieval.retrieve import Retriever
from .batching import Batcher


class KbState:
    """What a server holds open for its requests: the store, and the retriever with its batching queue."""

    def __init__(self, settings: Settings, reranker: str | None = None) -> None:
        self.settings = settings
        self.reranker_location = reranker
        self.store: GraphStore = open_store(settings)
        self.retriever: Retriever | None = None
        self.lock = threading.Lock()
        self.embedder: Embedder | None = None
        self.batcher = Batcher(self.ready, self.lock)

    def ready(self) -> Retriever:
        """The retriever, opened on first use when the indexes were not there at start."""
        with self.lock:
            if self.retriever is None:
                self.embedder = self.embedder or open_embedder(self.settings, spin=False)
                cross = None
                if self.reranker_location:
                    cross = Reranker(self.reranker_location, **reranker_options(self.settings))
                retriever = Retriever(self.store, self.settings, embedder=self.embedder, reranker=cross, mmap=True)
                _ = retriever.embedder.model  # loaded (seconds) here, not in a client's request, even when queries are cached
                retriever.embedder.encode(["warm up"])
                self.retriever = retriever
            return self.retriever

    def close(self) -> None:
        self.batcher.close()
        if self.embedder is not None and self.embedder.cache:
            self.embedder.cache.close()
        self.store.close()
