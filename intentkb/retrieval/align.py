"""`intentkb align steps`: link script steps to the intentions they call for.

EcomScriptBench aligns a step with a purchase intention when the SentenceBERT cosine similarity of
the two texts reaches 0.45; the products an aligned intention explains are the step's products.
Each step keeps its `top_k` best intentions at or above the threshold as
`(Step)-[:ALIGNED {score}]->(Intention)`. A step's edges are rewritten in one transaction per
batch — new ones merged, ones that no longer qualify deleted — so re-running changes nothing and a
run with another threshold leaves exactly its own edges.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from pydantic import BaseModel

from ..config import Settings
from ..kb.store import GraphStore, WriteStats
from ..progress import Progress
from .build import page_texts
from .embeddings import Embedder, open_embedder
from .index import VectorIndex, load_intentions_index

DEFAULT_THRESHOLD = 0.45
DEFAULT_TOP_K = 10
BATCH = 2000  # steps searched and written per transaction


class AlignReport(BaseModel):
    steps: int
    aligned_steps: int
    edges: int
    threshold: float
    top_k: int
    encoded: int
    edges_created: int
    edges_deleted: int
    seconds: float

    def line(self) -> str:
        return (
            f"aligned {self.aligned_steps:,} of {self.steps:,} steps to intentions: {self.edges:,} ALIGNED edges "
            f"(cosine >= {self.threshold}, top {self.top_k}; {self.edges_created:,} new, {self.edges_deleted:,} dropped; "
            f"{self.encoded:,} texts embedded) in {self.seconds:.1f}s"
        )


def iter_steps(store: GraphStore, scripts: list[str] | None = None) -> Iterator[tuple[str, str]]:
    return page_texts(store, "step_texts", {"scripts": scripts})


def align_steps(
    store: GraphStore,
    settings: Settings,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    top_k: int = DEFAULT_TOP_K,
    scripts: list[str] | None = None,
    index: VectorIndex | None = None,
    embedder: Embedder | None = None,
    progress: bool = False,
    batch: int = BATCH,
) -> AlignReport:
    """Write each step's ALIGNED edges; `scripts` limits the run to those scripts' steps."""
    started = time.monotonic()
    index = index or load_intentions_index(settings)
    own = embedder is None
    embedder = embedder or open_embedder(settings, progress=False)
    encoded_before = embedder.encoded
    steps = list(iter_steps(store, scripts))
    written = WriteStats()
    aligned = edges = 0
    bar = Progress(len(steps), "aligning steps", unit="steps", enabled=progress)
    # one batch is written while the next is searched (FAISS releases the GIL): the writes cost
    # ~35 s of a 100k-step run and overlap the search instead of adding to it
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="align-write")
    pending: Future[WriteStats] | None = None
    try:
        for i in range(0, len(steps), batch):
            part = steps[i : i + batch]
            vectors = embedder.encode([t for _, t in part])
            found = index.search(vectors, top_k, model=embedder.key)
            rows = []
            for (sid, _), hits in zip(part, found):
                links = [{"intention": g, "score": round(s, 6)} for g, s in hits if s >= threshold]
                rows.append({"step": sid, "links": links, "targets": [x["intention"] for x in links]})
                aligned += bool(links)
                edges += len(links)
            plan = store.prepare_write("align_steps_clear", {"rows": rows}) + store.prepare_write("align_steps", {"rows": rows})
            if pending is not None:
                written += pending.result()
            pending = pool.submit(store.execute, plan)
            bar.update(len(part))
        if pending is not None:
            written += pending.result()
    finally:
        pool.shutdown(wait=True)
        bar.close()
        if own and embedder.cache:
            embedder.cache.close()
    return AlignReport(
        steps=len(steps),
        aligned_steps=aligned,
        edges=edges,
        threshold=threshold,
        top_k=top_k,
        encoded=embedder.encoded - encoded_before,
        edges_created=written.relationships_created,
        edges_deleted=written.relationships_deleted,
        seconds=round(time.monotonic() - started, 2),
    )
