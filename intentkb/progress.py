"""Progress of long work with its rate and time left, on a terminal and in a log alike.

On a terminal it is a tqdm bar. Elsewhere (CI logs, `nohup`, a pipe) a bar's carriage returns
make one unreadable line, so it writes a plain line every `every` seconds instead
("embedding: 12,000/50,000 texts, 310/s, about 2 min left") and one at the end; work that ends
before the first interval prints nothing.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from tqdm import tqdm


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _rate(per_s: float) -> str:
    return f"{per_s:,.0f}/s" if per_s >= 10 else f"{per_s:.2f}/s" if per_s >= 0.1 else f"{60 * per_s:.1f}/min"


class Progress:
    def __init__(self, total: int | None, desc: str, *, unit: str = "texts", enabled: bool = True, every: float = 10.0, stream: IO[str] | None = None) -> None:
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.started = self._last = time.monotonic()
        self._printed = False
        tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar: Any = tqdm(total=total, desc=desc, unit=f" {unit}", leave=False, file=self.stream) if tty else None

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if self.enabled and now - self._last >= self.every:
            self._last = now
            self._line(now)

    def rate(self, now: float | None = None) -> float:
        elapsed = (now or time.monotonic()) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def _line(self, now: float) -> None:
        rate = self.rate(now)
        of = f"/{self.total:,}" if self.total else ""
        left = ""
        if self.total and rate > 0 and self.done < self.total:
            left = f", about {_duration((self.total - self.done) / rate)} left"
        print(f"{self.desc}: {self.done:,}{of} {self.unit}, {_rate(rate)}{left}", file=self.stream, flush=True)
        self._printed = True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._printed:
            now = time.monotonic()
            print(f"{self.desc}: {self.done:,} {self.unit} in {_duration(now - self.started)}, {_rate(self.rate(now))}", file=self.stream, flush=True)
            self._printed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
