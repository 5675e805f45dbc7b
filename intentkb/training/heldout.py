"""The before/after measure of `train embedder`: IQA T1/T2 questions on pairs it never trained on.

The questions are the ones `tasks export -b iqa` makes (same builder, same distractors from the
base model's intention index), kept when their group is a held-out pair, then scored as `eval
mcq` scores IntentionQA files: the option closest to the question in embedding space.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..config import Settings
from ..evaluation.mcq import MCQuestion, score_embedding
from ..evaluation.metrics import Accuracy, accuracy
from ..kb.store import GraphStore
from ..retrieval.build import build_index
from ..retrieval.embeddings import Embedder
from ..retrieval.index import IndexMeta, index_dir
from ..retrieval.retrieve import Retriever
from ..tasks.iqa.builder import iqa_items


def as_question(item: dict[str, Any]) -> MCQuestion:
    """An exported IQA item in the IntentionQA question form `eval mcq` scores."""
    inputs = item["inputs"]
    a, b = inputs["product_a"], inputs.get("product_b")
    common = {"id": item["id"], "item_a_name": a["title"] or a["id"], "options": item["options"], "gold_ind": item["label"], "relation": inputs.get("relation")}
    if item["task"] == "iqa-t1":
        return MCQuestion.model_validate({**common, "task": 1, "item_b_name": b["title"] or b["id"]})
    return MCQuestion.model_validate({**common, "task": 2, "assertion": inputs["intention"]})


def heldout_questions(store: GraphStore, settings: Settings, groups: set[str], limit: int, base: Embedder, seed: int = 0) -> dict[str, list[MCQuestion]]:
    """Up to `limit` questions per task whose pair is in `groups`."""
    plain = settings.model_copy(update={"embedding_backend": "torch", "embedding_precision": "float32"})
    meta = index_dir(plain, "intentions") / "meta.json"
    if meta.exists() and IndexMeta.model_validate_json(meta.read_text()).model != base.key:
        # the knowledge base's index embeds with another model than the one the questions are for:
        # a scratch index of its own, beside the data (the cache of `base` spares re-embedding)
        scratch = hashlib.blake2b(base.key.encode(), digest_size=8).hexdigest()
        plain = plain.with_data_dir(settings.data_dir / "heldout-index" / scratch)
        meta = index_dir(plain, "intentions") / "meta.json"
    if not meta.exists():
        build_index(store, plain, "intentions", embedder=base)
    out: dict[str, list[MCQuestion]] = {"iqa-t1": [], "iqa-t2": []}
    with Retriever(store, plain, embedder=base, hybrid=False) as nb:
        for item in iqa_items(store, plain, ["iqa-t1", "iqa-t2"], seed=seed, neighbours=nb):
            if item["group"] in groups and len(out[item["task"]]) < limit:
                out[item["task"]].append(as_question(item))
    return out


def score_questions(questions: dict[str, list[MCQuestion]], embedder: Embedder) -> dict[str, Accuracy]:
    out = {}
    for task, qs in questions.items():
        preds, _ = score_embedding(qs, embedder)
        out[task] = accuracy(sum(p.correct for p in preds), len(preds))
    return out
