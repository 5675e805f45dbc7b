"""How many threads an encoder may use: the cores that are idle now, not the cores there are.

torch and ONNX Runtime spin a thread per core and synchronise them at every layer; when another
process holds one of two cores, the thread waiting on it stalls the whole batch (measured on 2
cores with one busy: torch float32 with 2 threads ran at a fraction of its 1-thread rate; see
bench/encoder.py). So the count is the cores this process may run on, less those busy over a short
sample of /proc/stat, at least one. `INTENTKB_EMBEDDING_THREADS` fixes it.
"""

from __future__ import annotations

import os
import time


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies over all cores, or None where /proc/stat is not there."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            parts = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    return sum(parts) - idle, sum(parts)


def busy_cores(sample_s: float = 0.2) -> float:
    """Cores' worth of work the whole machine did over a short sample (this process included)."""
    a = _cpu_times()
    if a is None:
        return 0.0
    time.sleep(sample_s)
    b = _cpu_times()
    if b is None or b[1] == a[1]:
        return 0.0
    cores = os.cpu_count() or 1
    return cores * (b[0] - a[0]) / (b[1] - a[1])


def encoder_threads(setting: int | None = None) -> int:
    """Threads for one encoder: the setting if given, else the idle cores (rounded), at least 1."""
    if setting:
        return max(1, setting)
    env = os.environ.get("INTENTKB_EMBEDDING_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    cores = usable_cores()
    # a core counts as taken when something else keeps it more than ~70 % busy
    return max(1, min(cores, int(cores - busy_cores() + 0.7)))
