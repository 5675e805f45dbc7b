"""`intentkb mcp` driven by the TypeScript MCP SDK's own client (`@modelcontextprotocol/sdk`, pinned by
tests/mcp/ts/package-lock.json and installed with `npm ci` into a cache outside the tree)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_mcp import NEED, _env, home  # fixtures, by name

HERE = Path(__file__).parent / "ts"


@pytest.fixture(scope="module")
def ts_client() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not on this machine: the TypeScript client cannot run")
    lock = (HERE / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "intentkb-tests" / f"mcp-ts-{hashlib.sha256(lock).hexdigest()[:12]}"
    if not (cache / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, cache / name)
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=cache, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
    shutil.copy(HERE / "client.mjs", cache / "client.mjs")
    return cache / "client.mjs"


def test_the_typescript_sdk_client_lists_and_calls_the_tools(ts_client: Path, home: Path) -> None:
    r = subprocess.run(["node", str(ts_client), sys.executable, NEED], env=_env(home), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["server"]["name"] == "intentkb"
    assert len(got["tools"]) == 8 and all(t["readOnly"] is True for t in got["tools"])
    assert not got["retrieve"]["isError"] and got["retrieve"]["structured"]["products"][0]["product"] == "B07PF1R8LS"
    assert got["bad"]["isError"] and "unknown product" in got["bad"]["text"]
    assert got["status"] == {"isError": False, "engine": "embedded"}
