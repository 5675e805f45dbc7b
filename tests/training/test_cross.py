"""`train reranker` and `train critic` on the demo knowledge base (real MIND records, real catalogue),
small and fast (a sample of the pairs, one epoch), and everything that uses them: `eval mcq --scorer
rerank`, `retrieve --rerank`, the HTTP API's reranking, and the critic in `generate mind`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intentkb.cli.main import cli
from intentkb.errors import IntentKBError
from intentkb.retrieval.models import MODEL_MARKER
from intentkb.retrieval.rerank import WEAK_RERANK, Reranker, reranker_location
from intentkb.retrieval.retrieve import Retriever
from intentkb.serve.app import create_app
from intentkb.training.critic import CriticReport, band
from intentkb.training.heldout import heldout_questions
from intentkb.training.links import split_links
from intentkb.training.reranker import FUSION_WEIGHTS, RerankReport, tune_fusion


@pytest.fixture(scope="module")
def trained(demo_kb):
    """A reranker and a critic trained on the demo KB by the CLI, small and quick (--max-examples)."""
    _, settings = demo_kb
    base = ["--data-dir", str(settings.data_dir), "train"]
    quick = ["--batch-size", "16", "--learning-rate", "1e-4", "--held-out", "0.3", "--format", "json"]
    r = CliRunner().invoke(
        cli, [*base, "reranker", "-o", "rr", "--negatives", "1", "--random-negatives", "1", "--max-examples", "320", "--questions", "40", *quick]
    )
    assert r.exit_code == 0, r.output
    c = CliRunner().invoke(cli, [*base, "critic", "-o", "cr", "--epochs", "1", "--max-examples", "256", *quick])
    assert c.exit_code == 0, c.output
    return settings, RerankReport.model_validate_json(r.stdout), CriticReport.model_validate_json(c.stdout)


def test_the_reranker_is_written_whole_and_measured_on_products_it_never_saw(trained, demo_kb):
    settings, rr, _ = trained
    store = demo_kb[0]
    out = Path(rr.path)
    marker = json.loads((out / MODEL_MARKER).read_text())
    assert marker["kind"] == "reranker" and marker["fingerprint"] and not (settings.models_dir / "rr.work").exists()
    assert rr.examples == 320 and 0 < rr.positives < rr.examples  # a sample of links and mined negatives
    assert set(rr.by_shape) >= {"t1", "t2", "need"}
    # product-disjoint: no held-out product is in a training link's pair
    split = split_links(store, rr.options.kinds, rr.options.held_out, rr.options.step_min_score)
    held = {p for g in split.held_out_groups for p in g.split("|")}
    assert rr.held_out_products == len(held) > 0
    assert not held & {p for x in split.train if x.group for p in x.group.split("|")}
    for t in ("iqa-t1", "iqa-t2"):
        assert rr.embedder[t].total == rr.reranker[t].total == rr.fused[t].total == rr.questions[t]
    assert rr.fusion_weight in FUSION_WEIGHTS and marker["fusion_weight"] == rr.fusion_weight
    assert Reranker(out).fusion_weight == rr.fusion_weight  # what eval mcq fuses with
    assert any(line.startswith("  iqa-t1  embedder") for line in rr.lines())


def test_the_reranker_has_learnt_links_from_their_negatives(trained):
    settings, _, _ = trained
    model = Reranker(reranker_location(settings, "rr"))
    pos = model.score([("a tent and a sleeping bag for a family camping trip", "they want to sleep comfortably outdoors")])
    neg = model.score([("a tent and a sleeping bag for a family camping trip", "they want to protect their phone screen")])
    assert pos[0] > neg[0]
    assert model.score([]).shape == (0,)


def test_the_onnx_modes_give_the_torch_models_scores(trained):
    settings, _, _ = trained
    where = reranker_location(settings, "rr")
    pairs = [("a tent and a sleeping bag", "they go camping"), ("ride down long hills smoothly", "Sector 9 longboard"), ("x", "y z")] * 3
    torch_, fp32, int8 = (Reranker(where, precision=p).score(pairs) for p in ("torch", "float32", "int8"))
    assert abs(torch_ - fp32).max() < 1e-4 and abs(torch_ - int8).max() < 0.25
    assert (where / "onnx" / "model_int8.onnx").exists()


def test_a_model_of_another_kind_or_none_is_refused(trained, tmp_path):
    settings, _, _ = trained
    with pytest.raises(IntentKBError, match="not a reranker"):
        reranker_location(settings, "cr")
    with pytest.raises(IntentKBError, match="no reranker"):
        reranker_location(settings, "nothing-here")
    (tmp_path / "plain").mkdir()
    with pytest.raises(IntentKBError, match="not a model"):
        reranker_location(settings, str(tmp_path / "plain"))
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / MODEL_MARKER).write_text(json.dumps({"kind": ["reranker"]}))  # a damaged marker: no traceback
    with pytest.raises(IntentKBError, match="names no kind"):
        reranker_location(settings, str(tmp_path / "odd"))


def test_eval_mcq_scores_with_the_reranker(trained, demo_kb, embedder, tmp_path):
    settings, _, _ = trained
    store = demo_kb[0]
    questions = heldout_questions(store, settings, {q for q in _all_groups(store)}, 15, embedder)
    path = tmp_path / "qa.jsonl"
    ten = {"id": "ten", "item_a_name": "A tent", "item_b_name": "a sleeping bag", "options": [f"reason {i}" for i in range(10)], "gold_ind": "J"}
    lines = [q.model_dump_json() for qs in questions.values() for q in qs] + [
        json.dumps(ten),
        "{not json",
        json.dumps({"id": "x", "item_a_name": "A", "options": ["a", "b"], "gold_ind": "Z"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    env = {"INTENTKB_HOME": str(settings.data_dir)}
    r = CliRunner().invoke(
        cli, ["eval", "mcq", str(path), "--scorer", "rerank", "--reranker", "rr", "--format", "json", "--predictions", str(tmp_path / "p.jsonl")], env=env
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    n = len(lines) - 2  # the ten-option question is scored whole
    assert report["read"] == n + 2 and report["scored"] == n and report["rejected"] == 2
    assert report["scorer"] == "rerank" and report["pairs_read"] > 0 and report["model"].endswith("/rr")
    preds = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert all(len(p["scores"]) == (10 if p["id"] == "ten" else 4) and p["predicted"] == max(p["scores"], key=p["scores"].get) for p in preds)
    bad = CliRunner().invoke(cli, ["eval", "mcq", str(path), "--scorer", "rerank"], env=env)
    assert bad.exit_code == 2 and "--reranker" in bad.output


def _all_groups(store) -> set[str]:
    return {
        "|".join(sorted((r["a"], r["b"])))
        for r in store.run("MATCH (a:Product)<-[:EXPLAINS {role:'a'}]-(:Intention)-[:EXPLAINS {role:'b'}]->(b:Product) RETURN a.id AS a, b.id AS b")
    }


def test_retrieve_reranks_and_flags_weak_hits(trained, demo_kb, embedder):
    settings, _, _ = trained
    store, demo_settings = demo_kb
    cross = Reranker(reranker_location(settings, "rr"))
    with Retriever(store, demo_settings, embedder=embedder, reranker=cross) as r:
        hits = r.retrieve("ride down long hills smoothly", 5)
        plain = r.retrieve("ride down long hills smoothly", 5, rerank=False)
        steps = r.retrieve_script(_a_script(store), 3)
    assert len(hits) == 5 and all(h.rerank_score is not None and "rerank" in h.paths for h in hits)
    assert all(h.weak == (h.rerank_score < WEAK_RERANK) for h in hits)
    order = [(h.weak, -h.score) for h in hits]
    assert order == sorted(order)
    assert all(h.rerank_score is None for h in plain)
    assert steps and all(h.rerank_score is not None for s in steps for h in s.products)


def _a_script(store) -> str:
    return store.run("MATCH (s:Script)-[:HAS_STEP]->() RETURN s.id AS id LIMIT 1")[0]["id"]


def test_the_api_reranks_when_started_with_a_reranker(trained, demo_kb):
    _, rr, _ = trained
    _, demo_settings = demo_kb
    with TestClient(create_app(demo_settings, reranker=rr.path), base_url="http://127.0.0.1") as c:
        assert c.get("/health").json()["reranker"] == rr.path
        on = c.post("/retrieve", json={"text": "ride down long hills smoothly", "k": 3}).json()["products"]
        off = c.post("/retrieve", json={"text": "ride down long hills smoothly", "k": 3, "rerank": False}).json()["products"]
    assert all(h["rerank_score"] is not None for h in on) and all(h["rerank_score"] is None for h in off)
    with TestClient(create_app(demo_settings), base_url="http://127.0.0.1") as c:
        r = c.post("/retrieve", json={"text": "ride down long hills smoothly", "k": 3, "rerank": True})
    assert r.status_code == 400 and "no reranker" in r.json()["detail"]


def test_the_critic_is_measured_on_held_out_products(trained):
    _, _, cr = trained
    assert cr.kind == "critic" and cr.train > 0 and cr.held_out > 0 and cr.held_out_products > 0
    assert 0 <= cr.accuracy <= 1 and cr.majority >= 0.5
    assert cr.roc_auc is None or 0 <= cr.roc_auc <= 1
    assert [b.threshold for b in cr.bands] == sorted(b.threshold for b in cr.bands)
    assert all(0 <= b.calls_saved <= 1 for b in cr.bands)


def test_the_fusion_weight_is_scored_on_the_half_that_did_not_choose_it():
    from intentkb.evaluation.mcq import MCQuestion

    qs = [MCQuestion(id=f"q{i}", item_a_name="A", item_b_name="B", options=["x", "y"], gold_ind="A") for i in range(40)]
    # the reranker prefers the wrong option a little, the embedder the right one a lot: fusion helps
    parts = [{"A": (0.45, 0.9), "B": (0.55, 0.1)} for _ in qs]
    weight, fused = tune_fusion({"iqa-t1": qs}, {"iqa-t1": parts})
    assert weight > 0 and fused["iqa-t1"].correct == 40
    weight, fused = tune_fusion({"iqa-t1": qs}, {"iqa-t1": [{"A": (0.9, 0.1), "B": (0.1, 0.9)} for _ in qs]})
    assert weight == 0.0 and fused["iqa-t1"].correct == 40  # the embedder is wrong: left out


def test_band_counts_only_confident_scores():
    b = band([0.95, 0.05, 0.5, 0.85, 0.1], [True, False, True, False, True], 0.8)
    assert (b.decided, b.calls_saved, b.agreement) == (4, 0.8, 0.5)
    assert band([0.5], [True], 0.9).agreement is None


def test_generate_mind_asks_the_llm_only_about_what_the_critic_is_unsure_of(trained, estore, tmp_path, llm_server, llm_settings):
    from intentkb.generate.run import run_generation
    from intentkb.ingest import ingest_file

    from ..conftest import FIXTURES

    _, _, cr = trained
    ingest_file(estore, "cobuy", FIXTURES / "mind_sample.csv", rejects_path=tmp_path / "c.rejects.jsonl")
    estore.run("MATCH (i:Intention) SET i.accepted = null, i.filter_reason = null", write=True)
    total = estore.run("MATCH (i:Intention) RETURN count(i) AS n")[0]["n"]
    calls = llm_server.completions
    # scores from the critic alone first, to pick a threshold that splits this sample
    rec = run_generation("mind", estore.settings, llm_settings, {"progress": False, "stages": ["filter"], "critic": cr.path})
    scores = sorted(r["s"] for r in estore.run("MATCH (i:Intention) RETURN i.critic_score AS s"))
    assert len(scores) == total and all(s is not None for s in scores)
    assert llm_server.completions - calls == total == rec.stages[0].written  # no threshold: the LLM judges every one
    estore.run("MATCH (i:Intention) SET i.accepted = null", write=True)
    far = sorted(max(s, 1 - s) for s in scores)
    threshold = min(0.99, max(0.51, far[len(far) // 2]))  # about half are sure
    calls = llm_server.completions
    fresh = llm_settings.model_copy(update={"cache_path": tmp_path / "second.sqlite"})  # else the first run's answers come from the cache
    run_generation("mind", estore.settings, fresh, {"progress": False, "stages": ["filter"], "critic": cr.path, "critic_threshold": threshold})
    rows = estore.run("MATCH (i:Intention) RETURN i.critic_score AS s, i.accepted AS a, i.filter_model AS m")
    by_critic = [r for r in rows if (r["m"] or "").startswith("critic:")]
    assert by_critic and all(r["a"] == (r["s"] >= threshold) and (r["s"] >= threshold or r["s"] <= 1 - threshold) for r in by_critic)
    assert llm_server.completions - calls == total - len(by_critic)  # the LLM was asked about the rest only
    assert all(r["a"] is not None for r in rows)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.text(alphabet="ab1 ", max_size=6), st.none()),
            st.one_of(st.sampled_from(["yes", "no", "true", "0", "1", "maybe", ""]), st.integers(-2, 3)),
        ),
        max_size=12,
    )
)
def test_human_judgements_are_read_or_rejected_with_their_line(tmp_path_factory, rows):
    assume(rows)
    from intentkb.training.critic import read_human

    path = tmp_path_factory.mktemp("human") / "judged.jsonl"
    lines = [json.dumps({"intention": i, "plausible": p}) + "\n" for i, p in rows]
    path.write_text("".join([*lines[:1], "not json\n", *lines[1:]]))  # a file of nothing but a bad line is not JSON Lines at all
    got = read_human(path, rejects_path=path.parent / "rejects.jsonl")
    assert all(isinstance(v, bool) for v in got.values())
    ok = [i.strip() for i, p in rows if i and i.strip() and p in ("yes", "no", "true", "0", "1", 0, 1)]
    assert set(got) == set(ok)
    rejected = (path.parent / "rejects.jsonl").read_text().splitlines()
    assert len(rejected) == len(rows) + 1 - len(ok)  # read = loaded + rejected, the bad line included


def test_retrieve_asks_a_server_that_reranks_with_the_same_model(trained):
    """`intentkb retrieve --rerank rr` beside `intentkb serve --rerank rr`: the server answers (the
    embedding model named to the client does not exist); without --rerank it asks the server not to rerank."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from intentkb.testing import free_port

    settings, _, _ = trained
    port = free_port()
    env = {**os.environ, "INTENTKB_HOME": str(settings.data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "intentkb.cli.main", "serve", "--port", str(port), "--rerank", "rr"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.25)

        def asked() -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
                return int(json.loads(r.read())["retrieve_requests"])

        before = asked()
        base = ["--data-dir", str(settings.data_dir), "retrieve", "ride down long hills smoothly", "-k", "2", "--format", "json"]
        on = CliRunner().invoke(cli, [*base, "--rerank", "rr"])
        off = CliRunner().invoke(cli, base)
        assert on.exit_code == 0 and off.exit_code == 0, on.output + off.output
        assert asked() == before + 2  # both answered by the server (the same model, reranking or asked not to)
        assert all(h["rerank_score"] is not None for h in json.loads(on.stdout)["products"])
        assert all(h["rerank_score"] is None for h in json.loads(off.stdout)["products"])
    finally:
        proc.terminate()
        proc.wait(15)
