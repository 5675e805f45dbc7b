"""The benchmarks `tasks export` builds: one registration per benchmark, read by the CLI, the item
model and the exporters alike.

A benchmark is a folder (`sib/`, `esb/`, `iqa/`): its builder module ends with
`register(Benchmark(...))` (its name, its tasks with what each asks, the options model its builder
takes, the builder, its answer form and what its items' groups own), and `templates/` holds one
prompt per task. Nothing else names a benchmark: `tasks export`'s flags are its options model's
fields, the exporters, the prompt renderer and `--inject` read the rest from this entry. The
modules are imported on first use (`MODULES`), so listing the benchmarks costs no model or index.
Adding a benchmark is its folder plus its line in `MODULES` (or an `intentkb.benchmarks` entry point).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..clikit.model_options import option_problems
from ..errors import IntentKBError
from ..registry import Registry

if TYPE_CHECKING:
    from ..config import Settings
    from ..kb.store import GraphStore
    from .stats import BuildStats

Item = dict[str, Any]

MODULES: tuple[str, ...] = ("intentkb.tasks.sib.builder", "intentkb.tasks.esb.builder", "intentkb.tasks.iqa.builder")
AnswerForm = Literal["letter", "letter_and_option"]
# The names `tasks export` takes for itself (its flags and ExportOptions' fields): a benchmark's own
# options may not use them, or one would set the other.
EXPORT_NAMES = frozenset({"benchmark", "tasks", "task", "style", "prompt", "fmt", "format", "output", "output_format", "seed", "test_fraction"})
EXPORT_NAMES |= {"labels", "limit", "prompts_dir", "prompts", "page", "as_json", "json", "help"}


class BuildOptions(BaseModel):
    """What every builder takes; a benchmark's own options model extends it."""

    model_config = ConfigDict(extra="ignore")

    seed: int = 0
    page: int = Field(default=200, ge=1)


Builder = Callable[["GraphStore", "Settings | None", list[str], Any, "BuildStats"], Iterator[Item]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str  # the paper's name, for help texts
    tasks: dict[str, str]  # task name -> what it asks
    options: type[BuildOptions]
    build: Builder
    # what a fine-tuned model answers in few-shot form: "A. Yes" (the option's text too) or "A"
    answer: AnswerForm = "letter_and_option"
    # a named query ($group -> id) of the intentions an item's group owns: `--inject` leaves them out
    # as it leaves out the intentions of the item's own session or pair (they would give the answer)
    group_intentions: str | None = None

    def __post_init__(self) -> None:
        """What `tasks export` and the item model rely on, checked when the benchmark is made (a
        plugin's mistake is then its own warning, not a broken command for every benchmark)."""
        if not self.name.isidentifier() or not self.name.islower():
            raise IntentKBError(f"benchmark name {self.name!r}: lower-case letters, digits and '_' (items name their benchmark by it)")
        wrong = [t for t in self.tasks if not (t.startswith(f"{self.name}-t") and t[len(self.name) + 2 :].isdigit())]
        if wrong:
            raise IntentKBError(f"benchmark {self.name}: tasks are named {self.name}-t1, {self.name}-t2 …, not {', '.join(wrong)}")
        flags = {"--" + n.replace("_", "-") for n in EXPORT_NAMES} | {"-b", "-o", "-h"}
        problems = option_problems(self.own_options(), reserved=set(EXPORT_NAMES), reserved_flags=flags, own_flags=False)
        if problems:
            raise IntentKBError(f"benchmark {self.name}: " + "; ".join(problems))

    def own_options(self) -> dict[str, Any]:
        """The fields of its options model beyond every builder's (`BuildOptions`): name -> FieldInfo."""
        return {n: f for n, f in self.options.model_fields.items() if n not in BuildOptions.model_fields}

    def task_names(self, numbers: tuple[int, ...] | list[int] = ()) -> list[str]:
        names = list(self.tasks)
        if not numbers:
            return names
        wanted = [f"{self.name}-t{n}" for n in numbers]
        unknown = [w for w in wanted if w not in self.tasks]
        if unknown:
            raise IntentKBError(f"{self.name} has tasks {', '.join(names)}; no {', '.join(unknown)}")
        return wanted

    def items(self, store: GraphStore, settings: Settings | None, tasks: list[str], options: BaseModel | dict[str, Any], stats: BuildStats) -> Iterator[Item]:
        """The builder run with `options` read through this benchmark's own options model."""
        raw = options.model_dump() if isinstance(options, BaseModel) else options
        return self.build(store, settings, tasks, self.options.model_validate(raw), stats)


def _one_flag_one_type(b: Benchmark, registered: Mapping[str, Benchmark]) -> None:
    """An option two benchmarks share is one `tasks export` flag: it must mean the same type."""
    for other in registered.values():
        for name, info in b.own_options().items():
            theirs = other.own_options().get(name)
            if theirs is not None and (theirs.annotation, repr(theirs.metadata)) != (info.annotation, repr(info.metadata)):
                raise IntentKBError(
                    f"benchmark {b.name}: option {name!r} is {other.name}'s too, as {theirs.annotation} {theirs.metadata}: one flag, one type (name it otherwise)"
                )


_BENCHMARKS: Registry[Benchmark] = Registry(
    "benchmark", MODULES, lambda b: b.name, lambda b: b.options.__module__, group="intentkb.benchmarks", check=_one_flag_one_type
)
register = _BENCHMARKS.register
benchmarks = _BENCHMARKS.all
get_benchmark = _BENCHMARKS.get


def all_tasks() -> dict[str, dict[str, str]]:
    """benchmark -> {task: what it asks}."""
    return {name: dict(b.tasks) for name, b in benchmarks().items()}
