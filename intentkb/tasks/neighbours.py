"""Near texts through the intention index: where hard negatives and plausible distractors come from.

The builders of ESB T2/T3 and IQA reuse the FAISS index of `intentkb index build` (IVF at scale)
and the embedding cache, rather than holding vectors of their own: a negative is a product whose
intention is close to the question's text, which the graph then shows is not linked to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Settings
from ..retrieval.align import load_intentions_index
from ..retrieval.build import open_embedder
from ..retrieval.embeddings import Embedder, embedding_text
from ..retrieval.index import VectorIndex


class Neighbours:
    def __init__(self, settings: Settings, *, index: VectorIndex | None = None, embedder: Embedder | None = None) -> None:
        self.index = index or load_intentions_index(settings)  # a clear error when it was never built
        self._own = embedder is None
        self.embedder = embedder or open_embedder(settings)

    def search(self, texts: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        if not texts:
            return []
        vectors = self.embedder.encode([embedding_text(t) for t in texts])
        return self.index.search(vectors, min(k, self.index.meta.count), model=self.embedder.key)

    def close(self) -> None:
        if self._own and self.embedder.cache:
            self.embedder.cache.close()

    def __enter__(self) -> Neighbours:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
