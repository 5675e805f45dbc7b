"""Debian's Chromium for the browser tests (installed by tests/browser/chromium), with the flags
this closed network needs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    out = subprocess.run([str(Path(__file__).parents[1] / "browser" / "chromium")], capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, f"no Chromium for the browser tests: {out.stderr[-800:]}"
    return out.stdout.strip().splitlines()[-1]
