"""`--precision auto`: the encoder mode that is fastest on this machine, measured, never inferred.

CPU flags mislead: bfloat16 autocast ran 1.6x faster than float32 on one 2-core host with AMX and
6x slower on an AVX2 EPYC with the same intentkb. So each candidate (torch float32 / bfloat16, ONNX
float32 / int8) encodes the same sample of the job's own texts, and the fastest whose vectors agree
with float32 (mean cosine ≥ `AGREEMENT`) wins; a mode already twice as slow as the best is cut off.
The decision is kept per machine, model and thread count in `models/encoder-choice.json`, so the
measurement is paid once.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..config import Settings
from ..private import private_write_text
from .backends import candidates
from .embeddings import Embedder
from .models import model_key, model_location
from .threads import encoder_threads

AGREEMENT = 0.99  # mean cosine to float32 a faster mode must keep (int8 MiniLM: 0.993)
PROBE = 96
CHUNK = 16


class ModeFigure(BaseModel):
    backend: str
    precision: str
    texts_per_s: float
    agreement: float | None = None  # mean cosine to float32 over the probe
    cut_off: bool = False


class EncoderChoice(BaseModel):
    backend: str
    precision: str
    threads: int
    measured: list[ModeFigure]
    machine: str


def _machine(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(("model name", "flags")):
                    cpu += "|" + line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    break
    except OSError:
        pass
    return hashlib.blake2b(f"{cpu}|{threads}".encode(), digest_size=8).hexdigest()


def measure(settings: Settings, texts: Sequence[str], threads: int) -> EncoderChoice:
    """Encode the same probe texts in every candidate mode (no cache) and pick."""
    rng = np.random.default_rng(0)
    uniq = list(dict.fromkeys(t for t in texts if t))
    probe = [uniq[i] for i in sorted(rng.choice(len(uniq), size=min(PROBE, len(uniq)), replace=False))] if uniq else ["a"]
    figures: list[ModeFigure] = []
    reference: np.ndarray | None = None
    best = float("inf")
    for backend, precision in candidates(model_location(settings.embedding_model_location)):
        e = Embedder(settings.embedding_model_location, None, backend=backend, precision=precision, onnx_dir=settings.onnx_dir, threads=threads)
        e.encode(probe[:4])  # load and warm up
        started, parts = time.perf_counter(), []
        cut = False
        for i in range(0, len(probe), CHUNK):
            parts.append(e.encode(probe[i : i + CHUNK]))
            if time.perf_counter() - started > 2 * best:
                cut = True
                break
        took = time.perf_counter() - started
        vecs = np.concatenate(parts)
        done = len(vecs)
        if reference is None:
            reference = vecs
        # texts with no known token have zero vectors in every mode: they agree, whatever their dot product
        seen = np.linalg.norm(reference[:done], axis=1) > 0
        agreement = float(np.mean(np.sum(vecs[seen] * reference[:done][seen], axis=1))) if seen.any() else 1.0
        figures.append(ModeFigure(backend=backend, precision=precision, texts_per_s=round(done / took, 1), agreement=round(agreement, 5), cut_off=cut))
        if not cut:
            best = min(best, took * len(probe) / done)
    ok = [f for f in figures if not f.cut_off and (f.agreement or 0) >= AGREEMENT]
    pick = max(ok, key=lambda f: f.texts_per_s)
    return EncoderChoice(backend=pick.backend, precision=pick.precision, threads=threads, measured=figures, machine=_machine(threads))


def choose(settings: Settings, texts: Sequence[str], *, echo: Callable[[str], None] | None = None) -> EncoderChoice:
    """The kept decision for this machine, model and thread count, else a new measurement."""
    threads = encoder_threads(settings.embedding_threads)
    path: Path = settings.models_dir / "encoder-choice.json"
    key = f"{model_key(settings.embedding_model_location)}|{_machine(threads)}"
    kept: dict[str, dict[str, object]] = {}
    if path.exists():
        try:
            kept = json.loads(path.read_text())
        except ValueError:
            kept = {}
    if key in kept:
        return EncoderChoice.model_validate(kept[key])
    if echo:
        echo(f"measuring the encoder modes on {min(PROBE, len(set(texts)))} of these texts (once for this machine)")
    choice = measure(settings, texts, threads)
    kept[key] = choice.model_dump()
    path.parent.mkdir(parents=True, exist_ok=True)
    private_write_text(path, json.dumps(kept, indent=2))
    return choice
