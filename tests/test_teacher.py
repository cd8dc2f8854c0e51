"""The LLM teacher (corpus/teacher.py, teacher_critique.py) against REAL local servers.

A session fixture starts ``transformers serve`` on a free 127.0.0.1 port and, while it
boots, fine-tunes zoo:countdown-base into a weak verdict critic (bench/teacher_server.py,
30 SFT steps, for requests without a system message); the critique recipe then asks it for critiques of Countdown solutions,
and the verifier filter keeps some and rejects others. A tiny ``http.server`` on another
free port plays a server that answers garbage. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sparring.cli import app
from sparring.corpus import build, card, load
from sparring.corpus.teacher import Endpoint, TeacherPool, parse_endpoints, read_reply

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import teacher_server  # noqa: E402

runner = CliRunner()
# the fixture's critic is trained for requests without a system message (3x shorter rows)
SHORT = {"teacher_max_tokens": 48, "teacher_system": ""}


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """``(base url, critic dir, zoo base dir)`` of a live ``transformers serve``."""
    import torch

    from sparring.models import resolve_model_source

    tmp = tmp_path_factory.mktemp("teacher")
    port = teacher_server.free_port()
    proc = teacher_server.serve(port, log=tmp / "serve.log")
    threads, env = torch.get_num_threads(), os.environ.get("SPARRING_THREADS")
    try:
        # one thread: on 2 busy cores 6x faster than two (30 steps: 10 s instead of 66 s)
        os.environ["SPARRING_THREADS"] = "1"
        torch.set_num_threads(1)
        critic = teacher_server.train_critic(tmp / "critic", steps=30, n=240, system="")
        torch.set_num_threads(threads)
        os.environ.pop("SPARRING_THREADS") if env is None else os.environ.update(SPARRING_THREADS=env)
        teacher_server.wait_healthy(proc, port)
        yield f"http://127.0.0.1:{port}/v1", str(critic), str(resolve_model_source("zoo:countdown-base")[1])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _opts(url: str, model: str, cache: Path, **kw) -> dict:
    return {"teachers": [{"url": url, "model": model}], "teacher_cache": str(cache), **SHORT, **kw}


def _adds_up(entry: dict) -> None:
    for e in entry["endpoints"] + [entry["totals"]]:
        assert e["asked"] == e["cached"] + e["requests"]
        if "kept" in e:
            assert e["asked"] == e["kept"] + e["rejected"] + e["failed"]


def test_critiques_from_a_served_model_are_filtered_and_cached(served, tmp_path, countdown):
    url, critic, _ = served
    out, cache = tmp_path / "cft", tmp_path / "cache"
    args = ["data", "build", "critique", "--task", "countdown", "--n", "6", "--out", str(out)]
    args += ["--teacher", url, "--teacher-model", critic, "-o", f"teacher_cache={cache}"]
    args += [f"-o{k}={json.dumps(v)}" for k, v in SHORT.items()]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    ds, c = load(out)
    entry = c["teacher"]["critics"]
    _adds_up(entry)
    t = entry["totals"]
    assert t["asked"] == 6 and t["requests"] == 6 and t["cached"] == 0
    assert t["kept"] >= 1 and t["rejected"] >= 1, t  # the filter both keeps and rejects
    assert c["rows"] == len(ds) == t["kept"]
    assert entry["endpoints"][0]["model"] == critic and "api_key" not in json.dumps(c).replace("api_key_env", "")
    for row in ds:  # kept critiques agree with the verifier and read like the programmatic ones
        assert row["completion"].startswith("Critique:\n") and row["completion"].endswith(" [END]")
        said = "right" if "Conclusion: right" in row["completion"] else "wrong"
        assert row["label"] == f"critique:{said}"
    # the rerun is served from the cache: no request at all, the same rows
    res = runner.invoke(app, args + ["--overwrite"])
    assert res.exit_code == 0, res.output
    ds2, c2 = load(out)
    t2 = c2["teacher"]["critics"]["totals"]
    assert (t2["requests"], t2["cached"], t2["kept"]) == (0, 6, t["kept"])
    assert c2["content_hash"] == c["content_hash"]


def test_train_cft_with_teacher_flags(served, tmp_path):
    url, critic, _ = served
    out, cache = tmp_path / "ckpt", tmp_path / "cache"
    base = ["train", "cft", "--task", "countdown", "--budget", "2steps", "--out", str(out)]
    sets = ["--set", "n=6", "--set", "eval_problems=0", "--set", "show_progress=false"]
    sets += ["--set", "recipe_options=" + json.dumps({"teacher_cache": str(cache), **SHORT})]
    res = runner.invoke(app, base + sets + ["--teacher", url, "--teacher-model", critic])
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    entry = run["data"]["teacher"]["critics"]
    _adds_up(entry)
    assert run["data"]["rows"] == entry["totals"]["kept"] >= 1
    assert run["config"]["recipe_options"]["teachers"] == [{"url": url, "model": critic}]
    # an unreachable teacher: one clear error, before any training (nothing written)
    dead = f"http://127.0.0.1:{teacher_server.free_port()}/v1"
    bad = tmp_path / "never"
    res = runner.invoke(app, base[:-1] + [str(bad)] + sets + ["--teacher", dead, "--teacher-model", critic])
    assert res.exit_code == 2 and "cannot connect" in res.output and not bad.exists(), res.output


def test_one_shot_candidates_come_from_both_generators(served, tmp_path, countdown):
    url, critic, zoo = served
    gens = [{"url": url, "model": critic}, {"url": url, "model": zoo}]
    opts = {"generators": gens, "samples_per_generator": 2, "teacher_cache": str(tmp_path), **SHORT}
    ds = build("one_shot_critique", countdown, 12, 0, **opts)
    entry = card(ds, "one_shot_critique", countdown, 12, 0, opts)["teacher"]["generators"]
    assert [e["asked"] for e in entry["endpoints"]] == [2, 2]
    assert all(e["distinct_candidates"] >= 1 for e in entry["endpoints"]), entry
    assert len(ds) == 12 and len(set(ds["problem_id"])) == 1


def test_wrong_model_name_is_one_clear_error(served, tmp_path, countdown):
    url, _, _ = served
    with pytest.raises(ValueError, match=r"no-such-model.*first request failed: HTTP 500"):
        build("critique", countdown, 2, 0, **_opts(url, "no-such-model", tmp_path, teacher_retries=0))


# ---- a server that answers garbage -------------------------------------------------------
GOOD = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Critique:\nConclusion: wrong"}}]})
GARBAGE = [
    (200, b"<html>not json</html>"),
    (200, b'{"choices": []}'),
    (200, b'{"choices": [{"message": {"content": 12}}]}'),
    (200, b'{"choices": [{"message": {"content": "' + b"x" * 1_100_000 + b'"}}]}'),
    (503, b'{"error": "overloaded"}'),
]


@pytest.fixture
def garbage_server():
    """A local server: the first request of each run gets a valid critique, then garbage."""
    state = {"n": 0, "first_good": True}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            i, state["n"] = state["n"], state["n"] + 1
            status, body = (200, GOOD.encode()) if i == 0 and state["first_good"] else GARBAGE[i % len(GARBAGE)]
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1", state
    srv.shutdown()
    srv.server_close()


def test_garbage_replies_are_counted_failures(garbage_server, tmp_path, countdown):
    url, _ = garbage_server
    ds = build("critique", countdown, 6, 0, **_opts(url, "m", tmp_path, teacher_retries=0, teacher_concurrency=1))
    entry = card(ds, "critique", countdown, 6, 0, {})["teacher"]["critics"]
    _adds_up(entry)
    e = entry["endpoints"][0]
    assert e["failed"] == 5 and e["kept"] + e["rejected"] == 1
    assert e["failures"] == {"http_503": 1, "malformed": 3, "too_long": 1}


def test_garbage_first_reply_is_one_clear_error(garbage_server, tmp_path, countdown):
    url, state = garbage_server
    state["first_good"] = False
    with pytest.raises(ValueError, match="first request failed: malformed"):
        build("critique", countdown, 3, 0, **_opts(url, "m", tmp_path, teacher_retries=0))


# ---- parsing and validation (no server) ---------------------------------------------------
def test_replies_and_endpoints_are_parsed_not_trusted():
    assert read_reply(b'{"choices": [{"message": {"content": "a\\r\\nb\\u0000c"}}]}') == "a\nbc"
    for raw in (b"\xff", b"[]", b'{"choices": [{"message": {}}]}', b"null"):
        with pytest.raises(ValueError, match="malformed"):
            read_reply(raw)
    assert parse_endpoints({"url": "http://h:1/v1/", "model": "m"}, "t") == (Endpoint("http://h:1/v1", "m"),)
    for bad, field in (
        ({"url": "ftp://h", "model": "m"}, "url"),
        ({"url": "http://h", "model": ""}, "model"),
        ({"url": "http://h", "model": "m", "key": "secret"}, "unknown teacher field"),
        ({"url": "http://h", "model": "m", "api_key_env": "1X"}, "api_key_env"),
    ):
        with pytest.raises(ValueError, match=field):
            parse_endpoints([bad], "critique.teachers")


def test_options_and_flags_are_checked_before_any_request(countdown, tmp_path):
    t = [{"url": "http://127.0.0.1:9/v1", "model": "m"}]
    for opts, field in (
        ({"teachers": t, "wrong_critique_rate": 0.2}, "wrong_critique_rate"),
        ({"teachers": t, "teacher_filter": "vibes"}, "teacher_filter"),
        ({"teachers": t, "teacher_layout": "cft", "teacher_filter": "first_error"}, "teacher_filter"),
        ({"teachers": t, "teacher_max_tokens": 0}, "teacher_max_tokens"),
    ):
        with pytest.raises(ValueError, match=field):
            build("critique", countdown, 2, 0, **opts)
    res = runner.invoke(app, ["data", "build", "imitation", "--out", str(tmp_path / "x"), "--teacher", "http://h/v1"])
    assert res.exit_code == 2 and "--teacher-model" in res.output
    res = runner.invoke(
        app, ["train", "sft", "--out", str(tmp_path / "y"), "--teacher", "http://h/v1", "--teacher-model", "m"]
    )
    assert res.exit_code == 2 and "takes no teachers" in res.output


def test_the_cache_key_ignores_the_api_key(monkeypatch, tmp_path):
    from sparring.corpus.teacher import Request

    pool = TeacherPool([Endpoint("http://h/v1", "m")], cache_dir=tmp_path)
    req = Request(0, (("user", "q"),))
    monkeypatch.setenv("SPARRING_TEACHER_API_KEY", "one")
    k1 = pool.key(req)
    monkeypatch.setenv("SPARRING_TEACHER_API_KEY", "two")
    assert pool.key(req) == k1 != pool.key(Request(0, (("user", "q"),), seed=1))
