"""What a knowledge export must leave out so that no test item's answer is in the training data.

Two rules, both reported:
- **test split**: an entry whose group (pair, session, script) falls in the test split of `tasks
  export` — the same hash of (seed, group), so with the same `--seed` / `--test-fraction` the
  knowledge and the task files split alike. Entries without a group (a product's purchase
  intentions) belong to no benchmark's group and are kept.
- **excluded items** (`--exclude TASKS.jsonl`, a `tasks export` file): an entry made of any graph
  node an item's provenance names is left out whole (conservative: a distractor product named by
  an item takes its pair's document with it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..io.rejects import RejectSink, validated
from ..io.sources import jsonl_records
from ..tasks.items import TaskItem
from ..tasks.split import split_of
from .entries import Entry


class Exclusion:
    def __init__(self, *, seed: int = 0, test_fraction: float = 0.2, keep_test: bool = False, nodes: set[str] | None = None) -> None:
        self.seed, self.test_fraction, self.keep_test = seed, test_fraction, keep_test
        self.nodes = nodes or set()

    def reason(self, entry: Entry) -> str | None:
        """Why `entry` is left out, or None."""
        if not self.keep_test and entry.group is not None and split_of(entry.group, self.seed, self.test_fraction) == "test":
            return "test split"
        if self.nodes and not self.nodes.isdisjoint(entry.nodes):
            return "excluded items"
        return None


def excluded_nodes(paths: list[Path], rejects_dir: Path, echo: Callable[[str], None] | None = None) -> tuple[set[str], int, int]:
    """(every node the items' provenance names, items read, lines rejected). Bad lines go to a
    rejects file under `rejects_dir` with their line and reason."""
    nodes: set[str] = set()
    items = rejected = 0
    for path in paths:
        sink = RejectSink(rejects_dir / f"{path.name}.exclude.rejects.jsonl", path, echo)
        try:
            for _, item, _ in validated(jsonl_records(path, ()), TaskItem, sink):
                items += 1
                nodes.update(item.provenance.nodes)
        finally:
            sink.close()
        rejected += sink.count
    return nodes, items, rejected
