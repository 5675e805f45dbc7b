"""`intentkb serve` over real HTTP: a server process on 127.0.0.1, a real client, the CLI finding
the server, the token, read-only Cypher, and the API fuzzed against its own OpenAPI schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from intentkb.cli.main import cli
from intentkb.retrieval.build import build_indexes
from intentkb.retrieval.retrieve import Retriever
from intentkb.testing import free_port

from ..retrieval.test_retrieval import LONGBOARD, _load, _script, shared_embedder

TOKEN = "serve-test-token-7f3a"


def _request(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None, headers=headers, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def served(estore, tmp_path, shared_embedder):
    """The demo catalogue, purchase intentions and scripts, indexed; `intentkb serve` on it."""
    store, settings = _load(estore, tmp_path)
    build_indexes(store, settings, embedder=shared_embedder)
    procs = []
    pids: dict[str, int] = {}

    def start(token: str | None = None, *args: str) -> str:
        port = free_port()
        env = {**os.environ, "INTENTKB_HOME": str(settings.data_dir), "INTENTKB_GRAPH": settings.graph_name}
        env.pop("INTENTKB_SERVE_TOKEN", None)
        if token:
            env["INTENTKB_SERVE_TOKEN"] = token
        proc = subprocess.Popen(
            [sys.executable, "-m", "intentkb.cli.main", "serve", "--port", str(port), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        pids[url] = proc.pid
        for _ in range(240):
            try:
                if _request(url + "/health")[0] == 200:
                    return url
            except OSError:
                time.sleep(0.25)
        proc.kill()
        raise AssertionError(proc.communicate()[1][-2000:])

    start.pids = pids  # type: ignore[attr-defined]
    yield store, settings, start
    for p in procs:
        p.terminate()
        p.wait(10)
    assert not (settings.data_dir / "serve.json").exists()  # a stopped server leaves no record


def test_the_api_answers_as_the_library_does(served, shared_embedder):
    store, settings, start = served
    url = start()
    status, health = _request(url + "/health")
    assert status == 200 and health["status"] == "ok" and health["indexes"]["intentions"] > 0 and health["indexes"]["products"] > 0
    record = json.loads((settings.data_dir / "serve.json").read_text())
    assert record["url"] == url and record["graph"] == settings.graph_name  # listening on 127.0.0.1 only
    assert oct((settings.data_dir / "serve.json").stat().st_mode).endswith("600")

    with Retriever(store, settings, embedder=shared_embedder) as r:
        here = r.retrieve("a present for a child who loves dinosaurs", k=5)
        here_steps = r.retrieve_script(_script(store), k=2)
    status, out = _request(url + "/retrieve", {"text": "a present for a child who loves dinosaurs", "k": 5})
    assert status == 200 and [h["product"] for h in out["products"]] == [h.product for h in here]
    assert all(h["why"] for h in out["products"])
    status, out = _request(url + "/retrieve", {"script": _script(store), "k": 2})
    assert status == 200 and [[h["product"] for h in s["products"]] for s in out["steps"]] == [[h.product for h in s.products] for s in here_steps]
    status, steps = _request(url + f"/scripts/{_script(store)}/products?k=2")
    assert status == 200 and [s["idx"] for s in steps] == [1, 2, 3, 4, 5]

    # read-only Cypher, the CLI's checks
    status, out = _request(url + "/cypher", {"query": "MATCH (c:Script {objective: $o}) RETURN c.id AS id", "params": {"o": LONGBOARD}})
    assert status == 200 and out["rows"] == [{"id": _script(store)}]
    before = store.counts()
    status, out = _request(url + "/cypher", {"query": "CREATE (n:Intruder) RETURN n"})
    assert status == 400 and "writes to the graph" in out["detail"] and store.counts() == before
    status, out = _request(url + "/cypher", {"query": "RETURN " + "[" * 40 + "1" + "]" * 40})
    assert status == 400 and "nesting" in out["detail"]
    # bad requests are refused with what is wrong
    assert _request(url + "/retrieve", {"text": "x", "script": "y"})[0] == 422
    assert _request(url + "/retrieve", {"text": "x", "k": 0})[0] == 422
    for loose in ({"k": True}, {"k": "3"}, {"k": 3.5}, {"rerank": "yes"}):  # the MCP audit's neighbour: strict types
        assert _request(url + "/retrieve", {"text": "x", **loose})[0] == 422, loose
    status, out = _request(url + "/retrieve", {"script": "no-such-script"})
    assert status == 400 and "no script" in out["detail"]

    # concurrent clients: answered in batches (module batching), each as the library answers it alone
    texts = [f"{w} for a child who loves dinosaurs" for w in ("a present", "a book", "a toy", "a costume", "a puzzle", "a lamp")] * 4
    with Retriever(store, settings, embedder=shared_embedder) as r:
        alone = {t: [h.product for h in r.retrieve(t, k=3)] for t in set(texts)}
    _, before_batches = _request(url + "/health")
    go = threading.Barrier(len(texts))

    def ask(t: str) -> list[str]:
        go.wait()
        status, out = _request(url + "/retrieve", {"text": t, "k": 3})
        assert status == 200, out
        return [h["product"] for h in out["products"]]

    with ThreadPoolExecutor(len(texts)) as pool:
        assert list(pool.map(ask, texts)) == [alone[t] for t in texts]
    _, after = _request(url + "/health")
    asked = after["retrieve_requests"] - before_batches["retrieve_requests"]
    batches = after["retrieve_batches"] - before_batches["retrieve_batches"]
    assert asked == len(texts) and 1 <= batches < asked, (asked, batches)
    status, out = _request(url + "/retrieve", {"text": "   ", "k": 3})  # refused alone, not with a batch
    assert status == 400 and "empty" in out["detail"]

    # the CLI finds the server and asks it (the server counts the request) ...
    env = {"INTENTKB_GRAPH": settings.graph_name}
    ask = ["--data-dir", str(settings.data_dir), "retrieve", "a present for a child who loves dinosaurs", "-k", "5", "--format", "json"]
    _, before = _request(url + "/health")
    res = CliRunner().invoke(cli, ask, env=env)
    assert res.exit_code == 0, res.output
    assert [h["product"] for h in json.loads(res.output)["products"]] == [h.product for h in here]
    assert _request(url + "/health")[1]["retrieve_requests"] == before["retrieve_requests"] + 1
    # ... but not when it embeds with another model than the CLI's settings: its answer is to other questions
    res = CliRunner().invoke(cli, ask, env={**env, "INTENTKB_EMBEDDING_MODEL": "/nonexistent/model"})
    assert res.exit_code == 1 and "/nonexistent/model" in res.output
    assert _request(url + "/health")[1]["retrieve_requests"] == before["retrieve_requests"] + 1


def test_a_token_guards_every_route_but_health(served):
    _, _, start = served
    url = start(TOKEN)
    assert _request(url + "/health")[0] == 200
    for body in ({"text": "skate helmet"}, None):
        path = "/retrieve" if body else "/scripts/x/products"
        assert _request(url + path, body)[0] == 401
        assert _request(url + path, body, token="wrong")[0] == 401
    assert _request(url + "/retrieve", {"text": "skate helmet"}, token=TOKEN)[0] == 200


def _with_headers(url: str, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=b'{"query": "MATCH (p:Product) RETURN p.id AS id LIMIT 1"}', headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_a_loopback_server_answers_loopback_names_and_pages_only(served):
    """The MCP audit's neighbour: a tokenless `intentkb serve` answered `Host: evil.example.com`, so
    a web page could read the graph through DNS rebinding. Now 421 for a foreign Host and 403 for a
    foreign Origin, in one process and in each worker of `--workers 2`."""
    _, settings, start = served
    # a blank token is no token, in every worker too (the second attack: the workers read it raw and answered 401 to all)
    for token, args in ((None, ()), ("   ", ("--workers", "2"))):
        url = start(token, *args)
        port = url.rsplit(":", 1)[1]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
            assert _with_headers(url + "/cypher", {"Host": host}) == 200, host
        bad_hosts = ["evil.example.com", f"evil.example.com:{port}", f"localhost.:{port}", f"127.0.0.1.evil.example.com:{port}", f"user@127.0.0.1:{port}"]
        bad_hosts += ["[::1]evil.com", "localhost:evil.com", f"127.0.0.1:{port}@evil.com", "localhost:99999999"]  # the second attack
        for host in bad_hosts:
            assert _with_headers(url + "/cypher", {"Host": host}) == 421, host
        assert _with_headers(url + "/cypher", {"Origin": f"http://localhost:{port}"}) == 200
        for origin in ("http://evil.example.com", "null", f"http://evil.example.com.127.0.0.1:{port}", "http://[::1]evil.com", "http://localhost:99999999"):
            assert _with_headers(url + "/cypher", {"Origin": origin}) == 403, origin
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
        conn.putrequest("GET", "/health")
        for origin in ("http://evil.example.com", f"http://localhost:{port}"):  # two Origins: every one is checked
            conn.putheader("Origin", origin)
        conn.endheaders()
        assert conn.getresponse().status == 403
        conn.close()
    # a token the CLI would put in a header must be one (CR or non-Latin-1 text was a traceback in http.client)
    env = {"INTENTKB_GRAPH": settings.graph_name, "INTENTKB_SERVE_TOKEN": "tok\u20ac"}
    res = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "retrieve", "a helmet for skating"], env=env)
    assert res.exit_code == 1 and "printable ASCII" in res.output and isinstance(res.exception, SystemExit), (res.output, res.exception)


def test_the_api_holds_to_its_own_openapi_schema(served, tmp_path):
    """schemathesis: generated requests from /openapi.json — no 5xx, every response as documented."""
    _, _, start = served
    for token in (None, TOKEN):
        url = start(token)
        args = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "40",
            "--seed",
            "1",
        ]
        if token:
            args += ["-H", f"Authorization: Bearer {token}"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its .schemathesis/ cache there
        assert r.returncode == 0, r.stdout[-4000:]
        assert " passed" in r.stdout and "failure" not in r.stdout.split("SUMMARY")[-1].lower()


def _raw(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_request_and_answer_sizes_are_bounded_and_never_echoed(served):
    """Issue 26, finding 6: bodies of any size were read whole, a 422 echoed its whole input, a
    50 MB parameter was accepted, /cypher returned any number of rows, NaN was a 500."""
    _, _, start = served
    url = start(None, "--max-body", "3000000")
    pid = start.pids[url]  # type: ignore[attr-defined]
    before = _peak_rss_mb(pid)
    status, out = _raw(url + "/cypher", json.dumps({"query": "RETURN 1 AS x", "params": {"x": ["y" * 1000] * 50_000}}).encode())
    assert status == 413 and len(out) < 300 and b"yyyy" not in out
    status, out = _raw(url + "/cypher", json.dumps({"query": "RETURN size($x) AS n", "params": {"x": ["y" * 1000] * 2000}}).encode())
    assert status == 413 and b"parameters" in out and b"yyyy" not in out  # under the body cap, over the parameters'
    status, out = _raw(url + "/retrieve", json.dumps({"text": "z" * 20_000}).encode())
    assert status == 422 and b"zzzz" not in out and len(out) < 1000
    assert _raw(url + "/retrieve", b'{"text": "skate", "threshold": NaN}')[0] == 422
    assert _raw(url + "/cypher", b'{"query": "RETURN $x AS x", "params": {"x": [1, NaN]}}')[0] == 422
    status, out = _request(url + "/scripts/" + "x" * 100_000 + "/products")
    assert status == 422 and "xxxx" not in json.dumps(out)
    status, out = _raw(url + "/cypher", json.dumps({"query": "UNWIND range(1, 3000000) AS x RETURN x"}).encode())
    assert status == 422 and b"result refused" in out
    status, out = _raw(url + "/cypher", json.dumps({"query": "UNWIND range(1, 10000) AS x RETURN x"}).encode())
    assert status == 200 and len(json.loads(out)["rows"]) == 10_000
    assert _peak_rss_mb(pid) - before < 300, (before, _peak_rss_mb(pid))  # measured before: 1.26 -> 2.38 GB
    # a chunked body (no Content-Length) is counted as it arrives
    import http.client

    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    chunks = [b'{"query": "RETURN 1", "params": {"x": "'] + [b"w" * 100_000] * 40 + [b'"}}']
    try:
        conn.request("POST", "/cypher", body=iter(chunks), headers={"Content-Type": "application/json"}, encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 413 and b"wwww" not in resp.read()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered 413 and closed before the client finished sending
    assert _request(url + "/health")[0] == 200 and _peak_rss_mb(pid) - before < 300


def test_the_api_recovers_when_the_store_dies_and_health_says_so(served):
    """Finding 2: after the embedded server aborted, a running serve answered every /cypher and
    /retrieve with 400 "embedded server unreachable" while /health said ok."""
    import signal

    from intentkb.kb.falkordb import EmbeddedServer

    _, settings, start = served
    url = start()
    srv = EmbeddedServer(settings.data_dir)
    os.kill(srv._pid(), signal.SIGKILL)
    states = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, health = _request(url + "/health")
        states.add((status, health["status"]))
        if status == 200 and health["store"]["restarts"]["count"] >= 1:
            break
        time.sleep(0.05)
    assert status == 200 and health["status"] == "ok" and "died" in health["store"]["restarts"]["last"]["reason"], states
    assert "query" not in health["store"]["restarts"]["last"]  # /health needs no token: it shows no one's query
    assert _request(url + "/cypher", {"query": "RETURN 1 AS one"}) == (200, {"rows": [{"one": 1}]})
    assert _request(url + "/retrieve", {"text": "a helmet for skating", "k": 2})[0] == 200


def test_the_token_never_travels_in_argv_and_retrieve_finds_it(served):
    """Finding 7: `intentkb retrieve` failed with 401 beside a token-protected serve of the same
    home, and `--token` showed in ps."""
    _, settings, start = served
    url = start(TOKEN)
    assert TOKEN.encode() not in open(f"/proc/{start.pids[url]}/cmdline", "rb").read()  # type: ignore[attr-defined]
    env = {"INTENTKB_GRAPH": settings.graph_name, "INTENTKB_SERVE_TOKEN": ""}
    _, before = _request(url + "/health")
    res = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "retrieve", "a helmet for skating", "-k", "2", "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    assert _request(url + "/health", token=TOKEN)[1]["retrieve_requests"] == before["retrieve_requests"] + 1  # answered by the server
    res = CliRunner().invoke(cli, ["serve", "--token", "visible-in-ps"])
    assert res.exit_code != 0 and "ps" in res.output


def test_nul_and_undecodable_text_are_clear_errors_everywhere(served):
    """The attack of the MCP fixes: a NUL cut FalkorDB's query string short (a parse error quoting its
    internal header), a NUL-only need was retrieved for, and `intentkb retrieve` given bytes that are
    not UTF-8 ended in a UnicodeEncodeError traceback."""
    _, settings, start = served
    url = start(None)
    for path, body in (
        ("/retrieve", {"text": "\u0000"}),
        ("/retrieve", {"text": "skate\u0000helmet"}),
        ("/retrieve", {"script": "x\u0000"}),
        ("/cypher", {"query": "RETURN $x AS x", "params": {"x": "a\u0000b"}}),
        ("/cypher", {"query": "RETURN 'a\u0000b' AS x"}),
    ):
        status, out = _request(url + path, body)
        assert status == 400 and "NUL" in out["detail"] and "errCtx" not in out["detail"], (path, body, out)
    status, out = _request(url + "/scripts/a%00b/products")
    assert status == 400 and "NUL" in out["detail"], out
    env = {**os.environ, "INTENTKB_HOME": str(settings.data_dir), "INTENTKB_GRAPH": settings.graph_name}
    for text in (b"a\xffb", b"a\xed\xa0\x80b"):  # argv cannot hold a NUL; a UTF-8-encoded surrogate instead
        r = subprocess.run([sys.executable, "-m", "intentkb.cli.main", "retrieve", text], env=env, capture_output=True, timeout=120)
        assert r.returncode == 1 and b"Traceback" not in r.stderr and (b"NUL" in r.stderr or b"surrogate" in r.stderr), r.stderr[-2000:]


def test_a_record_that_is_not_a_server_is_no_traceback(tmp_path, monkeypatch):
    """The third attack: a hand-edited serve.json (no url, a url that is not one, a pid past 64
    bits, something else answering) ended `intentkb retrieve` in KeyError, InvalidURL,
    BadStatusLine, AttributeError or OverflowError. A record that names no usable server is none."""
    import http.server

    from intentkb.config import Settings
    from intentkb.errors import IntentKBError
    from intentkb.retrieval.keys import settings_key
    from intentkb.serve.running import call, find_server, record_path

    monkeypatch.delenv("INTENTKB_SERVE_TOKEN", raising=False)
    settings = Settings(graph_uri="embedded").with_data_dir(tmp_path)
    answers = {"/health": b"[]", "/retrieve": b"<html>not json</html>"}

    class Other(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(answers["/health"])

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(answers["/retrieve"])

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    here = f"http://127.0.0.1:{other.server_address[1]}"
    base = {"pid": os.getpid(), "graph": settings.graph_name, "model": settings_key(settings), "vectors": settings.vector_backend}
    try:
        for rec in ({}, {"url": "http://127.0.0.1:abc"}, {"url": "http://127.0.0.1:1 x\n"}, {"url": 5}, {"url": here, "pid": 10**30}, {"url": here}):
            record_path(settings).write_text(json.dumps({**base, **rec}))
            assert find_server(settings) is None, rec  # the last: /health answers [] there
        for body in (b"<html>", b"[]"):
            answers["/retrieve"] = body
            with pytest.raises(IntentKBError, match="serve at"):
                call(here, "/retrieve", {"text": "x"})
    finally:
        other.shutdown()


def test_a_server_on_ipv6_loopback_is_found_by_the_cli(served):
    """The third attack: `serve --host ::1` recorded http://::1:PORT, whose Host its own check refused
    (421), so the CLI silently worked alone."""
    _, settings, _ = served
    port = free_port()
    env = {**os.environ, "INTENTKB_HOME": str(settings.data_dir), "INTENTKB_GRAPH": settings.graph_name}
    env.pop("INTENTKB_SERVE_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "intentkb.cli.main", "serve", "--host", "::1", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    url = f"http://[::1]:{port}"
    try:
        for _ in range(240):
            try:
                if _request(url + "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.25)
        assert json.loads((settings.data_dir / "serve.json").read_text())["url"] == url
        before = _request(url + "/health")[1]["retrieve_requests"]
        res = CliRunner().invoke(
            cli, ["--data-dir", str(settings.data_dir), "retrieve", "a helmet for skating", "-k", "2"], env={"INTENTKB_GRAPH": settings.graph_name}
        )
        assert res.exit_code == 0, res.output
        assert _request(url + "/health")[1]["retrieve_requests"] == before + 1  # answered by the server
    finally:
        proc.terminate()
        proc.wait(10)


def test_queries_past_the_concurrency_cap_are_refused_at_once(served, monkeypatch):
    """A neighbour of finding 3: /cypher requests waiting for the store's query slots held every
    worker thread of the server, and with them /health and script retrieval."""
    _, _, start = served
    monkeypatch.setenv("INTENTKB_QUERY_TIMEOUT", "3")
    url = start(None, "--max-queries", "2")
    long_q = {"query": "UNWIND range(1, 100000) AS a UNWIND range(1, 100000) AS b RETURN count(*) AS n"}
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: _request(url + "/cypher", long_q)[0], range(6)))
    assert statuses.count(429) >= 3 and set(statuses) <= {400, 429}, statuses
    assert _request(url + "/health")[0] == 200


def test_a_server_stopped_by_its_operator_is_no_death_and_no_one_is_blamed(served):
    """The audit of the third fix: `intentkb server stop` under a running serve was recorded as a
    death with the query then running as its only suspect, and that harmless shape was refused
    for ten minutes."""
    _, settings, start = served
    url = start()
    q = {"query": "MATCH (q:Attribute) WHERE q.name IS NOT NULL RETURN count(q) AS n"}
    assert _request(url + "/cypher", q)[0] == 200
    before = _request(url + "/health")[1]["store"]["restarts"]["count"]
    env = {**os.environ, "INTENTKB_HOME": str(settings.data_dir)}
    subprocess.run([sys.executable, "-m", "intentkb.cli.main", "store", "stop"], env=env, check=True, capture_output=True, timeout=120)
    first = _request(url + "/cypher", q)
    assert first[0] in (200, 503), first
    assert _request(url + "/cypher", q)[0] == 200 and _request(url + "/cypher", q)[0] == 200
    assert _request(url + "/health")[1]["store"]["restarts"]["count"] == before


def test_workers_share_the_port_and_answer_alike(served, shared_embedder):
    """`serve --workers 2`: two processes behind one port, each answering what the library answers;
    the token reaches them without argv, and stopping the server stops both."""
    store, settings, start = served
    url = start(TOKEN, "--workers", "2")
    with Retriever(store, settings, embedder=shared_embedder) as r:
        want = [h.product for h in r.retrieve("a present for a child who loves dinosaurs", k=5)]
        want_steps = [[h.product for h in s.products] for s in r.retrieve_script(_script(store), k=2)]
    from concurrent.futures import ThreadPoolExecutor

    def ask(i: int) -> tuple[int, list[str], int]:
        status, out = _request(url + "/retrieve", {"text": "a present for a child who loves dinosaurs", "k": 5}, token=TOKEN)
        _, health = _request(url + "/health", token=TOKEN)
        return status, [h["product"] for h in out["products"]], health["pid"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(80)))
    assert all(status == 200 and got == want for status, got, _ in answers)
    assert len({pid for _, _, pid in answers}) == 2 and start.pids[url] not in {pid for _, _, pid in answers}
    status, out = _request(url + "/retrieve", {"script": _script(store), "k": 2}, token=TOKEN)
    assert status == 200 and [[h["product"] for h in s["products"]] for s in out["steps"]] == want_steps
    assert _request(url + "/retrieve", {"text": "x"})[0] == 401
