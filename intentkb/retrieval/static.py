"""The static-embedding tier: a sentence vector is the mean of its tokens' vectors, no network runs.

Static models are made by `intentkb train static` (model2vec's distillation of a
sentence-transformers model, optionally fine-tuned on the graph's links) and kept in model2vec's
format: `model.safetensors` (`embeddings`, optional `weights` and `mapping`), `tokenizer.json`,
`config.json` with `model_type: model2vec`. They are read here with safetensors and tokenizers
alone: model2vec's own loader imports huggingface_hub and its model cards (0.6 s), more than a cold
`intentkb retrieve` may spend in all. The vectors are model2vec's (`tests/retrieval/test_static.py`
compares them with `StaticModel.encode`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IntentKBError
from .backends import Embedder, EncoderBackend, register_backend
from .models import is_static

if TYPE_CHECKING:  # the encoder (numpy, tokenizers) loads with a static model, not with the backend list
    import numpy as np


class StaticBackend(EncoderBackend):
    """Runs a static model, whichever backend the settings name: only it can."""

    name, precisions, batch_size, computes_the_model, cached = "static", ("float32",), 4096, True, False

    def load(self, e: Embedder, threads: int) -> tuple[Any, int | None]:
        from .models import model_location

        location = model_location(e.name)
        if not is_static(location):
            raise IntentKBError(f"{e.name!r} is not a static model; make one with `intentkb train static -o NAME`")
        from .static_encoder import StaticEncoder

        return StaticEncoder(Path(location)), 1

    def dim(self, model: Any) -> int:
        return int(model.dim)

    def encode(self, model: Any, texts: list[str], e: Embedder) -> np.ndarray:
        import numpy as np

        return np.asarray(model.encode(texts), dtype=np.float32)


register_backend(StaticBackend())
