"""`retrieve_products` over MCP (stdio and streamable HTTP) beside the HTTP API's `POST /retrieve`.

    INTENTKB_HOME=KB python bench/mcp_latency.py [--texts 200] [--rounds 3]

Starts, on the knowledge base of INTENTKB_HOME (indexes built), `intentkb serve`, `intentkb mcp
--http` and `intentkb mcp` (stdio, launched by the Python SDK's client as a desktop agent launches
it), each its own process with the model loaded once. One client at a time asks each for the same
real CoScript steps (k = 5), transports taking turns round by round; every text is asked once of
each before the rounds, so all three answer from the embedding cache and the figure is what the
transport adds. Prints per transport p50 / p99 of each round and their medians, and the MCP
figures minus the HTTP API's. The clients are the ones users have: the `mcp` SDK's ClientSession
(its JSON-RPC, schema validation of the structured answer included) and a kept-alive HTTP/1.1
connection for the API. Exits non-zero when a call fails or the answers disagree.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).parent))
from serve import step_texts

from intentkb.testing import free_port


def wait_http(url: str, proc: subprocess.Popen[str], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited: {proc.communicate()[1][-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # answering
        except OSError:
            time.sleep(0.3)
    sys.exit(f"{url} did not answer in {seconds:.0f} s")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


class Api:
    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def fresh(self) -> None:
        """A new kept-alive connection: called before each round (the server closes idle ones after 5 s)."""
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.conn.connect()

    async def ask(self, text: str) -> list[str]:
        self.conn.request("POST", "/retrieve", body=json.dumps({"text": text, "k": 5}), headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit(f"POST /retrieve: HTTP {r.status}: {data[:300]!r}")
        return [p["product"] for p in json.loads(data)["products"]]


class Mcp:
    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def ask(self, text: str) -> list[str]:
        result = await self.session.call_tool("retrieve_products", {"step_or_need": text, "k": 5})
        if result.is_error or result.structured_content is None:
            sys.exit(f"retrieve_products failed: {result.content}")
        return [p["product"] for p in result.structured_content["products"]]


async def measure(clients: dict[str, Api | Mcp], texts: list[str], rounds: int) -> dict[str, list[tuple[float, float]]]:
    answers: dict[str, dict[str, list[str]]] = {name: {} for name in clients}
    for name, c in clients.items():  # every text once through each: all answer from the cache below
        if isinstance(c, Api):
            c.fresh()
        for t in texts:
            answers[name][t] = await c.ask(t)
    names = list(clients)
    for t in texts:
        if len({tuple(answers[n][t]) for n in names}) != 1:
            sys.exit(f"the transports disagree on {t!r}: {[answers[n][t] for n in names]}")
    out: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # who goes first turns round by round
            lat = []
            client = clients[name]
            if isinstance(client, Api):
                client.fresh()
            for t in texts:
                s = time.perf_counter()
                await clients[name].ask(t)
                lat.append((time.perf_counter() - s) * 1000)
            out[name].append((pct(lat, 50), pct(lat, 99)))
            print(f"  round {r + 1} {name}: p50 {out[name][-1][0]:.2f} ms, p99 {out[name][-1][1]:.2f} ms", flush=True)
    return out


async def run(texts: list[str], rounds: int) -> dict[str, list[tuple[float, float]]]:
    env = dict(os.environ)
    env.pop("INTENTKB_MCP_TOKEN", None)
    env.pop("INTENTKB_SERVE_TOKEN", None)
    api_port, mcp_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "intentkb.cli.main"]
    procs = [
        subprocess.Popen([*cmd, "serve", "--port", str(api_port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([*cmd, "mcp", "--http", f"127.0.0.1:{mcp_port}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
    ]
    try:
        wait_http(f"http://127.0.0.1:{api_port}/health", procs[0])
        wait_http(f"http://127.0.0.1:{mcp_port}/mcp", procs[1])
        params = StdioServerParameters(command=sys.executable, args=["-m", "intentkb.cli.main", "mcp"], env=env)
        async with stdio_client(params) as (sr, sw), ClientSession(sr, sw) as stdio:
            await stdio.initialize()
            async with streamable_http_client(f"http://127.0.0.1:{mcp_port}/mcp") as (hr, hw), ClientSession(hr, hw) as http:
                await http.initialize()
                clients: dict[str, Api | Mcp] = {"POST /retrieve": Api(api_port), "MCP stdio": Mcp(stdio), "MCP HTTP": Mcp(http)}
                return await measure(clients, texts, rounds)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=200, help="CoScript steps asked in each round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not os.environ.get("INTENTKB_HOME"):
        sys.exit("set INTENTKB_HOME to a knowledge base with its indexes built")
    texts = step_texts(args.texts)
    out = asyncio.run(run(texts, args.rounds))
    print(f"\n## retrieve_products over MCP beside POST /retrieve ({len(texts)} steps, k = 5, one client, {args.rounds} rounds)\n")
    print("| transport | p50 ms, median of rounds [min–max] | p99 ms, median [min–max] | p50 minus POST /retrieve |")
    print("|---|---|---|---|")
    base = statistics.median(p50 for p50, _ in out["POST /retrieve"])
    for name, runs in out.items():
        p50s, p99s = [p for p, _ in runs], [q for _, q in runs]
        med = statistics.median(p50s)
        print(
            f"| {name} | {med:.2f} [{min(p50s):.2f}–{max(p50s):.2f}] | {statistics.median(p99s):.2f} [{min(p99s):.2f}–{max(p99s):.2f}] | "
            f"{'—' if name == 'POST /retrieve' else f'{med - base:+.2f}'} |"
        )


if __name__ == "__main__":
    main()
