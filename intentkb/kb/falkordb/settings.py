"""The embedded server's own settings: the FalkorDB module arguments intentkb starts it with (the
user's from INTENTKB_FALKORDB_ARGS or `Settings(engine={"args": ...})`, plus our defaults), and how
much memory it may allocate."""

from __future__ import annotations

import os
import re
import resource
from pathlib import Path

from pydantic import Field, field_validator

from ...config import EngineSettings, _env

# One GraphBLAS thread: the server shares a small machine with intentkb's own workers, and spinning
# OpenMP threads took CPU from them (the bulk tree load ran 15 % faster with 1 than with 2 on 2 cores).
# Query limits: a query the caller gives no timeout stops after 30 s, none may ask for more than an
# hour (the project's own batch writes ask for the hour), a query may hold 1 GiB of records (at
# 4 GiB, one read-only query of 10M wide rows held its records and its reply at once and took the
# 4 GiB server down; at 1 GiB it stops with an error, and its reply fits beside it). Six query threads:
# outside queries (console, API) may take three, a fourth runs one of them for at most 1 s when the
# three are busy, two are left for intentkb's own queries (kb/falkordb/slots.py). Any of these can
# be changed with INTENTKB_FALKORDB_ARGS, e.g. "TIMEOUT_DEFAULT 120000 QUERY_MEM_CAPACITY 8589934592".
DEFAULT_MODULE_ARGS = {"OMP_THREAD_COUNT": "1", "THREAD_COUNT": "6", "TIMEOUT_DEFAULT": "30000", "TIMEOUT_MAX": "3600000", "QUERY_MEM_CAPACITY": str(1 << 30)}


class FalkorSettings(EngineSettings):
    what = "embedded store"

    # Extra FalkorDB module arguments, e.g. "DELTA_MAX_PENDING_CHANGES 100000".
    args: str = Field(default_factory=lambda: _env("INTENTKB_FALKORDB_ARGS", default="") or "")

    @field_validator("args")
    @classmethod
    def _module_args(cls, v: str) -> str:
        words = v.split()
        if len(words) % 2 or not all(re.fullmatch(r"[A-Z_]+", k) and re.fullmatch(r"[A-Za-z0-9_./-]+", w) for k, w in zip(words[::2], words[1::2])):
            raise ValueError("FalkorDB arguments must be 'NAME value' pairs (e.g. 'DELTA_MAX_PENDING_CHANGES 100000')")
        return " ".join(words)


def module_args(user_args: str) -> str:
    """The user's FalkorDB module arguments (NAME value pairs), plus our defaults they do not set."""
    words = user_args.split()
    names = {words[i].upper() for i in range(0, len(words), 2)}
    extra = [f"{k} {v}" for k, v in DEFAULT_MODULE_ARGS.items() if k not in names]
    return " ".join([user_args.strip(), *extra]).strip()


AUTO = -1  # the memory cap follows the data (memory_cap)
_FLOOR = 4 << 30


def default_memory() -> int:
    """INTENTKB_SERVER_MEMORY in GiB (0: no limit), else AUTO."""
    raw = os.environ.get("INTENTKB_SERVER_MEMORY", "").strip()
    return int(float(raw) * (1 << 30)) if raw else AUTO


def memory_cap(data_bytes: int) -> int:
    """The automatic cap of the server's data memory, from what it holds when no outside query
    runs: twice that plus 2 GiB, at least 4 GiB (a query may hold 1 GiB, and its reply as much), at most three quarters
    of the machine. It follows the graph as it grows (the supervisor sets it again while no
    outside query runs), so a load is never cut short, while a query that allocates what its
    data asks for aborts the server long before the machine runs short."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        total = 0
    cap = max(_FLOOR, 2 * data_bytes + (2 << 30))
    return min(cap, total * 3 // 4) if total else cap


def data_bytes(pid: int | None) -> int | None:
    """A process's data memory now (VmData: what RLIMIT_DATA counts), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def limit_memory(pid: int | None, memory: int) -> int | None:
    """Cap the server's data memory (RLIMIT_DATA, set from outside: no preexec hook, which is
    unsafe in threaded callers). Some expressions allocate whatever their data asks for before
    the per-query cap applies: `UNWIND range(1, 3000000*1000)` grew the server to 19 GB of a 23 GB
    machine in 33 s; capped, it aborts within seconds and the supervisor starts it again, and the
    rest of the machine is never at risk. `memory`: bytes, 0 for none, AUTO for memory_cap.
    Returns the cap set."""
    held = data_bytes(pid)
    if not memory or pid is None or held is None:
        return None
    cap = memory_cap(held) if memory == AUTO else max(memory, held + (256 << 20))
    try:
        resource.prlimit(pid, resource.RLIMIT_DATA, (cap, cap))
    except (OSError, ValueError):
        return None  # not permitted here: the supervisor still restarts a server that dies
    return cap
