"""Micro-batching for `POST /retrieve`: the requests waiting at one moment are answered together.

One retrieval at a time holds the model, the indexes and the store connection; under 50 clients
that made each wait for ~50 others one by one. A worker thread instead takes every request that
is waiting when it comes free (up to `MAX_BATCH`) and answers them with `Retriever.retrieve_many`:
one encode, one FAISS search per index and one graph query per round for the lot. Script requests
are batched the same way (`Retriever.retrieve_scripts`: all their steps in one encode and search).
A lone request does not wait for company: it is taken as soon as it arrives.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..errors import IntentKBError
from ..kb.guard import need_text
from ..retrieval.fusion import ProductHit
from ..retrieval.retrieve import Retriever, StepProducts

MAX_BATCH = 64


@dataclass
class _Ask:
    text: str  # the text, or the script id when `script`
    k: int
    threshold: float | None
    rerank: bool = True
    script: bool = False
    done: Future[Any] = field(default_factory=Future)


class Batcher:
    def __init__(self, retriever: Callable[[], Retriever], lock: threading.Lock, max_batch: int = MAX_BATCH) -> None:
        self._retriever = retriever
        self._lock = lock  # shared with the routes that use the retriever one call at a time
        self._max = max_batch
        self._queue: queue.Queue[_Ask | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="intentkb-retrieve-batcher", daemon=True)
        self._thread.start()
        self.batches = 0
        self.asked = 0

    def submit(self, text: str, k: int, threshold: float | None, rerank: bool = True) -> Future[list[ProductHit]]:
        need_text(text)  # here, not in the batch it would fail whole
        ask = _Ask(text, k, threshold, rerank)
        self._queue.put(ask)
        return ask.done

    def submit_script(self, script: str, k: int, threshold: float | None, rerank: bool = True) -> Future[list[StepProducts]]:
        ask = _Ask(script, k, threshold, rerank, script=True)
        self._queue.put(ask)
        return ask.done

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _take(self) -> list[_Ask] | None:
        first = self._queue.get()
        if first is None:
            return None
        asks = [first]
        while len(asks) < self._max:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)  # answer what was taken, then stop
                break
            asks.append(nxt)
        return asks

    def _run(self) -> None:
        while (asks := self._take()) is not None:
            # requests with the same k, threshold and reranking go through one call; others in their own
            groups: dict[tuple[bool, int, float | None, bool], list[_Ask]] = {}
            for a in asks:
                groups.setdefault((a.script, a.k, a.threshold, a.rerank), []).append(a)
            for (script, k, threshold, rerank), group in groups.items():
                try:
                    r = self._retriever()
                    with self._lock:
                        if script:
                            kw = {"threshold": threshold} if threshold is not None else {}
                            answers: list[Any] = r.retrieve_scripts([a.text for a in group], k, rerank=rerank, **kw)
                        else:
                            answers = r.retrieve_many([a.text for a in group], k, threshold=threshold, rerank=rerank)
                    self.batches += 1
                    self.asked += len(group)
                    for a, out in zip(group, answers):
                        if isinstance(out, IntentKBError):
                            a.done.set_exception(out)
                        else:
                            a.done.set_result(out)
                except BaseException as e:
                    for a in group:
                        if not a.done.done():
                            a.done.set_exception(e)
