"""The embedding model on ONNX Runtime: float32, or int8 dynamically quantised.

sentence-transformers' own `backend="onnx"` needs optimum, whose releases pin transformers < 5
while sentence-transformers 6 needs ≥ 5; so intentkb exports the model itself, once per model, with
torch's exporter: the transformer, its pooling and the L2 normalisation in one graph, attention
fused by ONNX Runtime's transformer optimizer (BERT-family models), then quantised per channel
(MatMul and attention weights in int8, the embedding table left in float32). Encoding then needs
only onnxruntime and tokenizers: no torch import, which is most of a cold `retrieve`'s time.

The float32 export computes what the torch model computes (cosine ≥ 0.99999, tested) and shares
its cache key; int8 agrees to cosine ~0.99 and is cached and indexed under its own key (`#int8`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from ..errors import IntentKBError
from ..private import owner_only, private_dir, private_write_text

EXPORT_VERSION = 1
BATCH = 8  # texts per run: on 2 cores small length-sorted batches beat 64 (less padding, cache-resident)


class ExportUnsupported(IntentKBError):
    """The model is not of a shape the ONNX export handles: the embedder runs it on torch instead."""


class ExportInfo(BaseModel):
    """What an export directory holds; written last, so a directory without it is incomplete."""

    model: str  # the model key (embeddings.model_key)
    version: int = EXPORT_VERSION
    dim: int
    max_seq_length: int
    pooling: str  # "mean" | "cls"
    normalize: bool  # the model has a Normalize module (the export normalises either way)
    fused: bool  # attention fused by the transformer optimizer
    files: dict[str, str]  # precision → file name
    seconds: float


def export_dir(root: Path, model: str) -> Path:
    return root / hashlib.blake2b(f"{model}|{EXPORT_VERSION}".encode(), digest_size=8).hexdigest()


def ensure_export(root: Path, model: str, location: str, *, echo: Any = None) -> tuple[Path, ExportInfo]:
    """The export of `model` under `root`, made now if there is none (tens of seconds, once)."""
    directory = export_dir(root, model)
    info_path = directory / "export.json"
    if info_path.exists():
        return directory, ExportInfo.model_validate_json(info_path.read_text())
    if echo:
        echo(f"exporting {model} to ONNX once (float32 and int8) into {directory}")
    tmp = directory.with_name(directory.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    private_dir(tmp)
    with warnings.catch_warnings():  # the exporter's and quantizer's advice is for their developers, not ours
        warnings.simplefilter("ignore")
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
        with owner_only():
            info = _export(location, model, tmp)
    private_write_text(tmp / "export.json", info.model_dump_json(indent=2))
    try:
        os.replace(tmp, directory)
    except OSError:  # another process finished the same export first
        shutil.rmtree(tmp, ignore_errors=True)
    return directory, ExportInfo.model_validate_json(info_path.read_text())


def _export(location: str, model: str, out: Path) -> ExportInfo:
    started = time.monotonic()
    import torch
    from sentence_transformers import SentenceTransformer, models

    from .quiet import quiet_transformers

    quiet_transformers()
    try:
        st = SentenceTransformer(location, device="cpu", model_kwargs={"attn_implementation": "eager"})
    except (OSError, ValueError) as e:
        raise IntentKBError(f"cannot load embedding model {model!r}: {e}") from e
    mods = list(st)
    if not (
        isinstance(mods[0], models.Transformer)
        and len(mods) > 1
        and isinstance(mods[1], models.Pooling)
        and all(isinstance(m, models.Normalize) for m in mods[2:])
    ):
        raise ExportUnsupported(f"the ONNX backend exports Transformer → Pooling [→ Normalize] models; {model} is {[type(m).__name__ for m in mods]}")
    pool = mods[1].get_config_dict()
    mode = pool.get("pooling_mode")  # sentence-transformers ≥ 6; before: one flag per mode
    if mode == "mean" or pool.get("pooling_mode_mean_tokens"):
        pooling = "mean"
    elif mode == "cls" or pool.get("pooling_mode_cls_token"):
        pooling = "cls"
    else:
        raise ExportUnsupported(f"the ONNX backend knows mean and CLS pooling, not {pool} ({model})")
    normalize = len(mods) > 2
    auto = mods[0].auto_model.eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.auto = auto

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.auto(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
            if pooling == "cls":
                e = h[:, 0]
            else:
                m = attention_mask.unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, dim=1)  # intentkb's vectors are unit length, as in the torch path

    sample = st.tokenizer(["an example", "a second, longer example text"], padding=True, return_tensors="pt")
    if "token_type_ids" not in sample:
        raise ExportUnsupported(f"the ONNX backend exports BERT-style models (with token type ids); {model} has none")
    fp32 = out / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            Encoder().eval(),
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=names,
            output_names=["embedding"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names}, "embedding": {0: "batch"}},
        )
    cfg = auto.config
    fused = _fuse(fp32, out / "fused.onnx", cfg)
    if fused:
        os.replace(out / "fused.onnx", fp32)
    quantize_int8(fp32, out / "model_int8.onnx")
    tokenizer_json = Path(location) / "tokenizer.json"
    if tokenizer_json.exists():
        shutil.copy(tokenizer_json, out / "tokenizer.json")
    else:
        st.tokenizer.save_pretrained(str(out / "tok"))
        shutil.move(str(out / "tok" / "tokenizer.json"), out / "tokenizer.json")
        shutil.rmtree(out / "tok", ignore_errors=True)
    return ExportInfo(
        model=model,
        dim=int(_dimension(st)),
        max_seq_length=int(st.max_seq_length),
        pooling=pooling,
        normalize=normalize,
        fused=fused,
        files={"float32": "model.onnx", "int8": "model_int8.onnx"},
        seconds=round(time.monotonic() - started, 1),
    )


def quantize_int8(fp32: Path, out: Path) -> None:
    """The dynamically quantised int8 copy (per-channel weights; MatMul and fused Attention)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul", "Attention"], extra_options={"DefaultTensorType": 1}
    )


def padded_batches(encs: Sequence[Any], batch_size: int) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """(rows, the graph's inputs) of `encs` (tokenizers encodings), longest first, each batch padded
    to its own longest: batches of like lengths waste least on padding."""
    order = np.argsort([-len(e.ids) for e in encs], kind="stable")
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        width = max(len(encs[j].ids) for j in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, j in enumerate(idx):
            e = encs[j]
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, 1, e.type_ids
        yield idx, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def _dimension(st: Any) -> int:
    get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(get() or 0)


def _fuse(src: Path, dst: Path, cfg: Any) -> bool:
    """Attention, GELU and layer norms fused (BERT-family configs only); False: keep the plain graph."""
    if getattr(cfg, "model_type", None) not in ("bert", "roberta", "distilbert", "xlm-roberta", "mpnet"):
        return False
    try:
        from onnxruntime.transformers import optimizer

        opt = optimizer.optimize_model(str(src), model_type="bert", num_heads=int(cfg.num_attention_heads), hidden_size=int(cfg.hidden_size))
        if not opt.get_fused_operator_statistics().get("Attention"):
            return False
        opt.save_model_to_file(str(dst))
        return True
    except Exception:
        return False


class OnnxEncoder:
    """Tokenizes with the model's own tokenizer.json and runs the exported graph, length-sorted."""

    def __init__(self, directory: Path, info: ExportInfo, precision: str, threads: int, *, spin: bool = True) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if precision not in info.files:
            raise IntentKBError(f"the ONNX export has {', '.join(info.files)}, not {precision}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        if not spin:
            # a server interleaves one small encode with FAISS and the graph client on the same cores:
            # the pool's spin-wait after each run took ~5 ms from every FAISS search there. Bulk
            # encoding keeps it (1.6x faster on 2 threads, measured).
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(directory / info.files[precision]), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(info.max_seq_length)
        self.info = info
        self.threads = threads

    def encode(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        out = np.empty((len(texts), self.info.dim), dtype=np.float32)
        for idx, inputs in padded_batches(self.tokenizer.encode_batch(list(texts)), batch_size):
            out[idx] = self.session.run(None, inputs)[0]
        return out
