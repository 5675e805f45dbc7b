"""A toy intentkb plugin: one extension of each kind, found through entry points alone."""

from __future__ import annotations

import hashlib

import click
import numpy as np

from intentkb.export.writers import Writer
from intentkb.generate.pipeline import Pipeline, PipelineOptions, Stage
from intentkb.kb.falkordb import EmbeddedStore
from intentkb.prompts.formats import ReplyFormat
from intentkb.retrieval.backends import EncoderBackend
from intentkb.tasks.items import YES_NO, make_item
from intentkb.tasks.registry import Benchmark, BuildOptions


def _build(store, settings, tasks, options, stats):
    for row in store.run("MATCH (s:Session) RETURN s.id AS id ORDER BY id"):
        stats.sources += 1
        yield make_item("toybench-t1", row["id"], {"session": row["id"]}, YES_NO, label="A", group=row["id"], query="toy", nodes=[row["id"]])


BENCHMARK = Benchmark(name="toybench", title="Toy bench", tasks={"toybench-t1": "is this a session?"}, options=BuildOptions, build=_build)


class ToyTsv(Writer):
    name, help, needs_prompts = "toytsv", "id and label, tab-separated", False

    def __init__(self, opts, prompts, stack):
        super().__init__(opts, prompts, stack)
        self.fh = self.open_tmp(opts.output, "w", encoding="utf-8")

    def write(self, item, split):
        self.fh.write(f"{item['id']}\t{item['label']}\n")
        return True


class YesNo(ReplyFormat):
    name, json = "toy_yesno", False

    def read(self, text, **args):
        word = text.strip().split()[0].strip(".,").lower() if text.strip() else ""
        if word not in ("yes", "no"):
            from intentkb.prompts.lines import ParseError

            raise ParseError("answer yes or no")
        return word == "yes"

    def synthetic(self, rng, args):
        return rng.choice(["Yes.", "No."])


YESNO = YesNo()


class HashBackend(EncoderBackend):
    """Vectors from a hash of the text: no model, same text same vector."""

    name, precisions, batch_size = "toyhash", ("float32",), 16

    def load(self, e, threads):
        return None, 1

    def dim(self, model):
        return 8

    def encode(self, model, texts, e):
        v = np.array([np.frombuffer(hashlib.blake2b(t.encode(), digest_size=32).digest(), dtype=np.uint8)[:8] for t in texts], dtype=np.float32) + 1
        return v / np.linalg.norm(v, axis=1, keepdims=True)


HASH = HashBackend()


async def _noop(ctx, options):
    raise AssertionError("not run by the plugin test")


PIPELINE = Pipeline(name="toygen", summary="A toy pipeline.", example="intentkb generate toygen", options=PipelineOptions, stages=(Stage("only", _noop),))


class ToyStore(EmbeddedStore):
    kind = "toydb"


def attach(root: click.Group) -> None:
    @root.command("toy-hello")
    def hello() -> None:
        """Say hello from the toy plugin."""
        click.echo("hello from the toy plugin")
