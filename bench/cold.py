"""A new user's first `intentkb retrieve` from the shell: whole processes, cold, store running.

    python bench/cold.py [--runs 7] [--static NAME_OR_PATH]

Builds the demo knowledge base (`intentkb demo --keep-server`, so the store is running), then times
`intentkb retrieve TEXT -k 5` as separate processes, each with a text never asked before (so the
embedding cache cannot answer and the encoder must load), configurations alternating run by run:
- `onnx`: the defaults a new user gets (ONNX Runtime float32, the same vectors as torch);
- `torch`: INTENTKB_EMBEDDING_BACKEND=torch, the sentence-transformers model itself;
- `static`: with `--static`, a static model of `train static`, on a demo knowledge base built with it;
- `onnx, intentkb serve running`: the defaults, with `intentkb serve` running on a demo knowledge
  base of its own: the CLI sends the text to the server's resident encoder (checked: the server's
  request count goes up by one a run).
Prints wall seconds and the process's peak RSS (its own, from wait4), median [min–max] per
configuration, and exits non-zero when a run fails or returns no product.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from intentkb.testing import free_port

ADJECTIVES = ["warm", "quiet", "small", "cheap", "sturdy", "bright", "soft", "light", "waterproof", "portable", "colourful", "simple"]
NEEDS = [
    "a {} present for a child who loves dinosaurs",
    "a {} way to keep my feet dry on winter walks",
    "something {} to keep a toddler busy on a long drive",
    "a {} costume for a school play",
    "a {} gadget so I can listen to music while running",
    "a {} way to protect my laptop on the commute",
    "a {} toy for a puppy that chews everything",
]


def texts(n: int) -> list[str]:
    out = [need.format(adj) for adj in ADJECTIVES for need in NEEDS]
    return [f"{t} ({i})" for i, t in enumerate(out * (n // len(out) + 1))][:n]


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, the child's own peak RSS in MiB (reaped here with wait4), its stdout."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        p = subprocess.Popen(cmd, env=env, stdout=out_f, stderr=err_f, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-1500:]}")
    return wall, usage.ru_maxrss / 1024, out


SERVED = "onnx, `intentkb serve` running"


def served_requests(health: str, server: subprocess.Popen[str], seconds: float = 120) -> int:
    """Text requests the server has answered (its /health), waiting for it to start."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"intentkb serve exited: {server.communicate()[1][-1500:]}")
        try:
            with urllib.request.urlopen(health, timeout=2) as r:
                return int(json.loads(r.read())["retrieve_requests"])
        except (OSError, ValueError):
            time.sleep(0.3)
    raise SystemExit(f"{health} did not answer in {seconds:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--static", help="a static model (train static -o NAME: its directory, or NAME in $INTENTKB_HOME/models)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ikb-cold-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("INTENTKB_") or k == "INTENTKB_ONNX_DIR"}
    configs: dict[str, dict[str, str]] = {
        "onnx (default)": {**base, "INTENTKB_HOME": str(root / "demo")},
        "torch": {**base, "INTENTKB_HOME": str(root / "demo"), "INTENTKB_EMBEDDING_BACKEND": "torch"},
    }
    if args.static:
        where = Path(args.static).expanduser()
        if not where.is_dir():
            where = Path(os.environ.get("INTENTKB_HOME", "~/.intentkb")).expanduser() / "models" / args.static
        configs["static"] = {**base, "INTENTKB_HOME": str(root / "demo-static"), "INTENTKB_EMBEDDING_MODEL": str(where.resolve())}
    # the resident encoder: `intentkb retrieve` asks a running `intentkb serve` of its knowledge base
    # (a demo knowledge base of its own, so that the other configurations find no server)
    configs[SERVED] = {**base, "INTENTKB_HOME": str(root / "demo-served")}
    built = set()
    for env in configs.values():
        if env["INTENTKB_HOME"] not in built:
            wall, _, _ = run(["intentkb", "demo", "--data-dir", env["INTENTKB_HOME"], "--keep-server"], env)
            built.add(env["INTENTKB_HOME"])
            print(f"demo knowledge base in {env['INTENTKB_HOME']} built in {wall:.1f}s", flush=True)
    port = free_port()
    server = subprocess.Popen(["intentkb", "serve", "--port", str(port)], env=configs[SERVED], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    health = f"http://127.0.0.1:{port}/health"
    answered_before = served_requests(health, server)
    asks = iter(texts(args.runs * len(configs) + len(configs)))
    for env in configs.values():  # one first call each (an ONNX export, a first page cache), not counted
        run(["intentkb", "retrieve", next(asks), "-k", "5", "--format", "json"], env)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    failed = []
    for _ in range(args.runs):
        for name, env in configs.items():
            wall, rss, out = run(["intentkb", "retrieve", next(asks), "-k", "5", "--format", "json"], env)
            figures[name].append((wall, rss))
            if not json.loads(out):
                failed.append(name)
    print(f"cold `intentkb retrieve TEXT -k 5`, a new text each run, store running, {args.runs} runs each, alternating:")
    print("| configuration | wall s, median [min–max] | peak RSS MiB, median |\n|---|---|---|")
    for name, f in figures.items():
        walls = [w for w, _ in f]
        print(f"| {name} | {statistics.median(walls):.2f} [{min(walls):.2f}–{max(walls):.2f}] | {statistics.median(r for _, r in f):.0f} |")
    answered = served_requests(health, server) - answered_before
    server.terminate()
    server.wait(timeout=30)
    if answered != args.runs + 1:  # every served run, and its first call, went to the server
        failed.append(f"{SERVED}: the server answered {answered} of {args.runs + 1} calls")
    for env in configs.values():
        subprocess.run(["intentkb", "store", "stop"], env=env, capture_output=True)
    if failed:
        print(f"FAILED: no products for {sorted(set(failed))}")
        sys.exit(1)


if __name__ == "__main__":
    main()
