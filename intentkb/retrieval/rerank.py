"""A cross-encoder reranker: reads the question and a candidate together and says how well they fit.

A bi-encoder embeds two texts apart and compares the vectors; a cross-encoder (sentence-transformers
`CrossEncoder`) reads the pair at once, which is what telling a plausible intention from a
near-miss needs. It is slower by a model call per (query, candidate), so it re-orders a short list
that a first stage (FAISS, the embedder's scores) already made. `intentkb train reranker` makes
one from the graph's links (module `training.reranker`); its score is a probability that the
candidate answers the query (sigmoid of one logit, trained with binary cross-entropy on true links
and mined hard negatives), so a cut on it means something: below `WEAK_RERANK` a hit is weak.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import IntentKBError
from .fusion import ProductHit
from .models import MODEL_MARKER
from .quiet import quiet_transformers
from .threads import encoder_threads

MAX_LENGTH = 128  # tokens of query + candidate, as trained: IQA questions fit, long titles are cut
WEAK_RERANK = 0.5  # a candidate the reranker gives less than even odds is not vouched for
RERANK_BATCH = 64

_LOADED: dict[tuple[Any, ...], Any] = {}


def reranker_location(settings: Settings, name: str, kind: str = "reranker") -> Path:
    """A reranker (or critic: `kind`) by name in $INTENTKB_HOME/models or by path; it must be one
    `train reranker` (`train critic`) wrote."""
    p = Path(name).expanduser()
    if "/" not in name and (settings.models_dir / name).is_dir():
        p = settings.models_dir / name
    marker = p / MODEL_MARKER
    if not p.is_dir():
        raise IntentKBError(f"no {kind} {name!r}: neither {settings.models_dir / name} nor a directory; make one with `intentkb train {kind} -o {name}`")
    try:
        found = json.loads(marker.read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        raise IntentKBError(f"{p} is not a model `intentkb train {kind}` wrote (no readable {MODEL_MARKER})") from None
    if not isinstance(found, str) or not found:
        raise IntentKBError(f"{p} is not a model `intentkb train {kind}` wrote (its {MODEL_MARKER} names no kind)")
    if found != kind:
        raise IntentKBError(f"{p} is {'a ' + found + ' model' if found else 'another kind of model'}, not a {kind}; make one with `intentkb train {kind}`")
    return p.resolve()


def _marker(location: Path) -> dict[str, Any]:
    try:
        found = json.loads((location / MODEL_MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


class Reranker:
    """A trained cross-encoder, loaded once per process, device and mode. On CPU it runs on ONNX
    Runtime (module `onnx_cross`, exported beside the weights on first use): `float32` gives the
    torch model's scores faster, `int8` faster still; `torch` runs the model itself."""

    def __init__(
        self, location: Path | str, *, device: str = "cpu", threads: int | None = None, max_length: int = MAX_LENGTH, precision: str = "float32"
    ) -> None:
        self.location = str(Path(location).resolve())
        weights = [w.stat().st_mtime_ns for w in sorted(Path(self.location).glob("*.safetensors"))]
        mode = precision if device == "cpu" else "torch"
        key = (self.location, device, mode, *weights)  # a model trained again in the same place is loaded again
        if key not in _LOADED:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            quiet_transformers()
            try:
                _LOADED[key] = self._load(device, threads, max_length, mode)
            except (OSError, ValueError) as e:
                raise IntentKBError(f"cannot load reranker {location}: {e}") from e
        self.model = _LOADED[key]
        self.mode = mode
        self.scored = 0  # pairs read so far
        # the weight of the embedder's cosine beside the log-odds in multiple choice (module evaluation.mcq), chosen by training
        self.fusion_weight = float(_marker(Path(self.location)).get("fusion_weight") or 0.0)

    def _load(self, device: str, threads: int | None, max_length: int, mode: str) -> Any:
        if mode in ("float32", "int8"):
            from .onnx_cross import OnnxCross, ensure_cross_export

            return OnnxCross(ensure_cross_export(Path(self.location), max_length), mode, encoder_threads(threads))
        import torch
        from sentence_transformers import CrossEncoder

        if device == "cpu":
            torch.set_num_threads(encoder_threads(threads))
        return CrossEncoder(self.location, device=device, max_length=max_length)

    @classmethod
    def open(cls, settings: Settings, name: str) -> Reranker:
        return cls(reranker_location(settings, name), **reranker_options(settings))

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """P(candidate answers query) for each (query, candidate). Pairs are read longest first in
        batches, so a batch pads to texts of its own length, and each distinct pair once."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        distinct = list(dict.fromkeys(pairs))
        if self.mode == "torch":
            order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i][0]) - len(distinct[i][1]))
            probs = self.model.predict([list(distinct[i]) for i in order], batch_size=RERANK_BATCH, show_progress_bar=False, convert_to_numpy=True)
            by_pair = {distinct[i]: float(p) for i, p in zip(order, np.asarray(probs).reshape(-1))}
        else:  # the ONNX path sorts by token length itself
            by_pair = {p: float(x) for p, x in zip(distinct, self.model.score(distinct))}
        self.scored += len(distinct)
        return np.asarray([by_pair[p] for p in pairs], dtype=np.float32)

    def rerank(self, query: str, hits: list[ProductHit], k: int) -> list[ProductHit]:
        """`hits` re-ordered by how well each product's title answers `query`; those below
        `WEAK_RERANK` are weak and come after every strong one."""
        return self.rerank_many([query], [hits], k)[0]

    def rerank_many(self, queries: Sequence[str], hits: Sequence[list[ProductHit]], k: int) -> list[list[ProductHit]]:
        pairs = [(q, candidate_text(h)) for q, hs in zip(queries, hits) for h in hs]
        probs = iter(self.score(pairs).tolist())
        out = []
        for hs in hits:
            rescored = []
            for h in hs:
                p = round(next(probs), 6)
                rescored.append(h.model_copy(update={"rerank_score": p, "score": p, "weak": p < WEAK_RERANK, "paths": [*h.paths, "rerank"]}))
            out.append(sorted(rescored, key=lambda x: (x.weak, -x.score, x.product))[:k])
        return out


def reranker_options(settings: Settings) -> dict[str, Any]:
    """How the settings load a reranker or critic: device, threads and mode."""
    return {"device": settings.embedding_device, "threads": settings.embedding_threads, "precision": settings.rerank_precision}


def candidate_text(hit: ProductHit) -> str:
    """What the reranker reads of a product: its title (the id when it has none)."""
    return hit.title or hit.product
