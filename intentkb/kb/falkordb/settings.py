"""The embedded server's own settings: the FalkorDB module arguments intentkb starts it with, and
how much memory it may allocate."""

from __future__ import annotations

import os

# One GraphBLAS thread: the server shares a small machine with intentkb's own workers, and spinning
# OpenMP threads took CPU from them (the bulk tree load ran 15 % faster with 1 than with 2 on 2 cores).
# Query limits: a query the caller gives no timeout stops after 30 s, none may ask for more than an
# hour (the project's own batch writes ask for the hour), a query may hold 4 GiB. Six query threads:
# outside queries (console, API) may take three, a fourth runs one of them for at most 1 s when the
# three are busy, two are left for intentkb's own queries (kb/falkordb/slots.py). Any of these can
# be changed with INTENTKB_FALKORDB_ARGS, e.g. "TIMEOUT_DEFAULT 120000 QUERY_MEM_CAPACITY 8589934592".
DEFAULT_MODULE_ARGS = {"OMP_THREAD_COUNT": "1", "THREAD_COUNT": "6", "TIMEOUT_DEFAULT": "30000", "TIMEOUT_MAX": "3600000", "QUERY_MEM_CAPACITY": str(4 << 30)}


def module_args(user_args: str) -> str:
    """The user's FalkorDB module arguments (NAME value pairs), plus our defaults they do not set."""
    words = user_args.split()
    names = {words[i].upper() for i in range(0, len(words), 2)}
    extra = [f"{k} {v}" for k, v in DEFAULT_MODULE_ARGS.items() if k not in names]
    return " ".join([user_args.strip(), *extra]).strip()


def default_memory() -> int:
    """INTENTKB_SERVER_MEMORY in GiB (0: no limit), else half the machine's memory, at least 2 GiB."""
    raw = os.environ.get("INTENTKB_SERVER_MEMORY", "").strip()
    if raw:
        return int(float(raw) * (1 << 30))
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return 0
    return max(2 << 30, total // 2)
