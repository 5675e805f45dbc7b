"""Embedding backends: what runs the sentence encoder, one registry entry each (`torch`: the
sentence-transformers model; `onnx`: its ONNX Runtime export). The `Embedder` keeps the cache, the
batching and the progress; a backend only loads a model and encodes a batch. A new backend (a
remote embedding API, another runtime) is an `EncoderBackend` registered here or from a plugin's
module under the `intentkb.embedders` entry-point group; `--precision auto` measures it too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..registry import Registry

if TYPE_CHECKING:  # numpy is imported by the encoders, not by whoever asks for a settings key
    import numpy as np


class Embedder(Protocol):
    """What a backend reads of the embedder it serves."""

    name: str
    device: str
    precision: str
    batch_size: int
    onnx_dir: Path | None
    echo: Any
    spin: bool


class EncoderBackend:
    name: str = ""
    precisions: tuple[str, ...] = ("float32",)  # the first is the one whose vectors the others must agree with
    batch_size: int = 32
    cpu_only: bool = True
    # True: it runs the configured sentence-transformers model itself (another runtime of the same
    # weights): its float32 vectors share the cache and indexes, and `--precision auto` measures it.
    # False (a remote API, a hash): its vectors are cached and indexed under a key of their own.
    computes_the_model: bool = False
    # False: encoding is cheaper than a cache look-up (a static model: ~11,000 texts/s against SQLite's
    # reads and writes of each vector), so the embedder neither reads nor fills the cache for it
    cached: bool = True

    def load(self, e: Embedder, threads: int) -> tuple[Any, int | None]:
        """The loaded model and the CPU threads it runs on (None on a GPU)."""
        raise NotImplementedError

    def dim(self, model: Any) -> int:
        raise NotImplementedError

    def encode(self, model: Any, texts: list[str], e: Embedder) -> np.ndarray:
        """L2-normalised vectors, float32."""
        raise NotImplementedError


class TorchBackend(EncoderBackend):
    name, precisions, batch_size, cpu_only, computes_the_model = "torch", ("float32", "bfloat16"), 64, False, True

    def load(self, e: Embedder, threads: int) -> tuple[Any, int | None]:
        from .models import load_model, model_location

        model = load_model(model_location(e.name), e.device, e.name, threads)
        if e.device != "cpu":
            return model, None
        import torch

        return model, torch.get_num_threads()  # a model loaded earlier in the process kept its count

    def dim(self, model: Any) -> int:
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def encode(self, model: Any, texts: list[str], e: Embedder) -> np.ndarray:
        import numpy as np

        if e.precision == "bfloat16":
            import torch

            with torch.autocast(device_type=e.device.split(":")[0], dtype=torch.bfloat16):
                vecs = model.encode(texts, batch_size=e.batch_size, convert_to_numpy=False, convert_to_tensor=True, show_progress_bar=False)
            return np.asarray(torch.nn.functional.normalize(vecs.float(), dim=1).cpu().numpy(), dtype=np.float32)
        vecs = model.encode(texts, batch_size=e.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


class OnnxBackend(EncoderBackend):
    name, precisions, batch_size, computes_the_model = "onnx", ("float32", "int8"), 8, True

    def load(self, e: Embedder, threads: int) -> tuple[Any, int | None]:
        from ..config import Settings
        from .models import model_key, model_location
        from .onnx_encoder import OnnxEncoder, ensure_export

        root = e.onnx_dir or Settings().onnx_dir
        try:
            directory, info = ensure_export(root, model_key(e.name), model_location(e.name), echo=e.echo)
        except OSError as err:
            from ..errors import IntentKBError

            raise IntentKBError(f"cannot keep the ONNX export of {e.name} under {root}: {err}; set INTENTKB_ONNX_DIR to a writable directory") from err
        return OnnxEncoder(directory, info, e.precision, threads, spin=e.spin), threads

    def dim(self, model: Any) -> int:
        return int(model.info.dim)

    def encode(self, model: Any, texts: list[str], e: Embedder) -> np.ndarray:
        import numpy as np

        return np.asarray(model.encode(texts, e.batch_size), dtype=np.float32)


_BACKENDS: Registry[EncoderBackend] = Registry(
    "embedding backend", (__name__, f"{__package__}.static"), lambda b: b.name, lambda b: type(b).__module__, group="intentkb.embedders"
)
register_backend = _BACKENDS.register
backends = _BACKENDS.all
get_backend = _BACKENDS.get
register_backend(TorchBackend())
register_backend(OnnxBackend())


def all_precisions() -> tuple[str, ...]:
    """Every precision some backend runs (the choices of `--precision`)."""
    return tuple(dict.fromkeys(p for b in backends().values() for p in b.precisions))


def backend_for(precision: str, default: str) -> str:
    """The backend a precision runs on (bfloat16: torch, int8: ONNX); float32 runs on either."""
    owners = [name for name, b in backends().items() if precision in b.precisions]
    if default not in backends():
        return default  # no such backend: the embedder says so, rather than running another one
    return default if default in owners or not owners else owners[0]


def mode_of(location: str, precision: str, default: str) -> tuple[str, str]:
    """(backend, precision) that run the model at `location`: a static model runs on the static
    backend in float32 whatever the settings name (nothing else can run it); any other model on
    the backend `backend_for` gives."""
    from .models import is_static

    if is_static(location):
        return "static", "float32"
    return backend_for(precision, default), precision


def candidates(location: str | None = None) -> list[tuple[str, str]]:
    """(backend, precision) pairs `--precision auto` measures for the model at `location`: the modes
    of every backend that runs that model itself (one whose vectors are its own cannot agree with
    the model's, nor be swapped in); a static model has one."""
    from .models import is_static

    if location is not None and is_static(location):
        return [("static", "float32")]
    return [(name, p) for name, b in backends().items() if b.computes_the_model and name != "static" for p in b.precisions]


def check(backend: str, precision: str, device: str, names: Sequence[str] = ()) -> EncoderBackend:
    b = get_backend(backend)
    if precision not in b.precisions:
        from ..errors import IntentKBError

        raise IntentKBError(f"embedding precision on {backend} must be {' or '.join(b.precisions)}, not {precision!r}")
    if b.cpu_only and device != "cpu":
        from ..errors import IntentKBError

        raise IntentKBError(f"the {backend} backend runs on the CPU; use the torch backend for a GPU")
    return b
