"""A trained cross-encoder on ONNX Runtime: what `Reranker` runs when the model has an export.

The same recipe as the embedder's ONNX backend (`onnx_encoder`): the Hugging Face model exported
once with torch's exporter (logits of the pair), attention and layer norms fused by ONNX Runtime's
transformer optimizer, and a dynamically quantised int8 copy; pairs are tokenized with the model's
own tokenizer.json (pair encoding, longest-first truncation as sentence-transformers does) and run
length-sorted. The export lives beside the weights (`onnx/`), made on first use (seconds, once).
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..private import owner_only, private_dir
from .onnx_encoder import _fuse, padded_batches, quantize_int8

BATCH = 64
PRECISIONS = ("float32", "int8")


def ensure_cross_export(location: Path, max_length: int) -> Path:
    directory = location / "onnx"
    if (directory / "model_int8.onnx").exists():
        return directory
    tmp = location / f"onnx.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    private_dir(tmp)
    with warnings.catch_warnings(), owner_only():
        warnings.simplefilter("ignore")
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
        _export(location, tmp, max_length)
    try:
        os.replace(tmp, directory)
    except OSError:  # another process finished the same export first
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _export(location: Path, out: Path, max_length: int) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(location), attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(str(location))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tok([["a question", "an answer"], ["a longer question here", "and its answer"]], padding=True, return_tensors="pt")

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    fp32 = out / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            Logits().eval(),
            tuple(sample[n] for n in names),
            str(fp32),
            input_names=names,
            output_names=["logits"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names}, "logits": {0: "batch"}},
        )
    if _fuse(fp32, out / "fused.onnx", model.config):
        os.replace(out / "fused.onnx", fp32)
    quantize_int8(fp32, out / "model_int8.onnx")
    tok.save_pretrained(str(out / "tok"))
    shutil.move(str(out / "tok" / "tokenizer.json"), out / "tokenizer.json")
    shutil.rmtree(out / "tok", ignore_errors=True)
    (out / "max_length").write_text(str(max_length))


class OnnxCross:
    """P(candidate answers query) for (query, candidate) pairs, from an export."""

    def __init__(self, directory: Path, precision: str, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        name = "model_int8.onnx" if precision == "int8" else "model.onnx"
        self.session = ort.InferenceSession(str(directory / name), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int((directory / "max_length").read_text()), strategy="longest_first")

    def score(self, pairs: Sequence[tuple[str, str]], batch_size: int = BATCH) -> np.ndarray:
        out = np.empty(len(pairs), dtype=np.float32)
        for idx, inputs in padded_batches(self.tokenizer.encode_batch([(q, c) for q, c in pairs]), batch_size):
            logits = self.session.run(None, inputs)[0]
            out[idx] = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return out
