"""Online evaluation against a live collector: evaluator rules on an agent's arriving runs (the
collector scores a stable sample with the cheap rules), LLM-judge rules done by the
``flightlog evaluate --online`` worker against a local OpenAI-compatible server, and
``gen_ai.evaluation.result`` events from other tools stored as scores; the summary per agent
version. Runs are sent with the real OTLP exporter."""

from __future__ import annotations

import json
import math
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, clean_env, start_collector, wait_until
from flightlog import semconv as sc
from flightlog.collector.online_eval import sampled


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("online-eval"))
    try:
        yield running
    finally:
        running.stop()


def call(c: RunningCollector, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
    return httpx.request(method, c.url + path, headers={"Authorization": f"Bearer {key or c.read_key}"}, timeout=60,
                         **kw)


def send_runs(c: RunningCollector, agent: str, runs: list[tuple[str, str, str]],
              evaluation: dict[str, Any] | None = None) -> list[str]:
    """One agent span per (version, input, output); returns the trace ids."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": agent}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=f"{c.url}/v1/traces", headers={"x-api-key": c.ingest_key})))
    tracer = provider.get_tracer("tests.online_eval")
    traces = []
    for version, text_in, text_out in runs:
        with tracer.start_as_current_span(f"invoke_agent {agent}") as span:
            span.set_attributes({sc.OPERATION: "invoke_agent", sc.AGENT_NAME: agent, sc.AGENT_VERSION: version,
                                 sc.INPUT: text_in, sc.OUTPUT: text_out})
            if evaluation:
                span.add_event(sc.EVENT_EVALUATION_RESULT, evaluation)
            traces.append(format(span.get_span_context().trace_id, "032x"))
    provider.shutdown()
    return traces


def summary(c: RunningCollector, **params: Any) -> list[dict[str, Any]]:
    resp = call(c, "GET", "/api/evaluation/summary", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()["rows"]


def add_rule(c: RunningCollector, **body: Any) -> dict[str, Any]:
    resp = call(c, "POST", "/api/evaluation/rules", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_the_sample_is_stable_and_its_size_within_tolerance() -> None:
    traces = [secrets.token_hex(16) for _ in range(4000)]
    for rate in (0.05, 0.25, 0.5):
        picked = [t for t in traces if sampled("a" * 20, t, rate)]
        sigma = math.sqrt(len(traces) * rate * (1 - rate))
        assert abs(len(picked) - rate * len(traces)) <= 4 * sigma, (rate, len(picked))
        assert picked == [t for t in traces if sampled("a" * 20, t, rate)]  # the same runs every time
    other_rule = [t for t in traces if sampled("b" * 20, t, 0.25)]
    assert other_rule != [t for t in traces if sampled("a" * 20, t, 0.25)]  # rules sample independently
    assert all(sampled("c" * 20, t, 1.0) for t in traces[:50]) and not any(sampled("c" * 20, t, 0.0) for t in traces)


def test_a_rule_scores_a_sample_of_arriving_runs_per_agent_version(collector: RunningCollector) -> None:
    rule = add_rule(collector, agent="live-bot", evaluator="regex:refunded \\d+\\.\\d{2}", sample_rate=0.5,
                    name="amount_format")
    assert (rule["kind"], rule["changed_by"]) == ("rule", "dev read key (flightlog up)")
    runs = [("1.0", f"refund order {n}", f"refunded {n}.50 USD") for n in range(40)]
    runs += [("2.0", f"refund order {n}", f"refunded {n}50 USD") for n in range(40)]
    traces = send_runs(collector, "live-bot", runs)
    expected = [t for t in traces if sampled(rule["id"], t, 0.5)]
    assert abs(len(expected) - 40) <= 4 * math.sqrt(80 * 0.25)

    def scored() -> Any:
        rows = summary(collector, agent="live-bot")
        return rows if sum(r["scores"] for r in rows) >= len(expected) else None

    rows = wait_until(scored, timeout=60, what="the sampled runs' scores")
    by_version = {r["group"]: r for r in rows}
    assert sum(r["scores"] for r in rows) == len(expected)  # exactly the sampled runs, once each
    assert (by_version["1.0"]["mean"], by_version["1.0"]["failed"]) == (1.0, 0)
    assert by_version["2.0"]["mean"] == 0.0 and by_version["2.0"]["failed"] == by_version["2.0"]["scores"]
    assert {r["evaluator"] for r in rows} == {"amount_format"} and {r["source"] for r in rows} == {"online"}
    # Monitoring's filters narrow the scores too: one agent version's runs only.
    one = summary(collector, agent="live-bot", agent_version="2.0")
    assert [(r["group"], r["scores"]) for r in one] == [("2.0", by_version["2.0"]["scores"])]
    assert summary(collector, agent="live-bot", by="prompt_version", agent_version="1.0")[0]["scores"] == \
        by_version["1.0"]["scores"]
    assert summary(collector, agent="live-bot", model="no-such-model") == []


class _Judge(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        polite = "please" in body["messages"][0]["content"].rsplit("Answer:", 1)[1]
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": json.dumps(
            {"score": 1 if polite else 0, "explanation": "polite" if polite else "curt"})}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def judge_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_judge_rules_are_scored_by_the_online_worker(collector: RunningCollector, judge_url: str) -> None:
    spec = "judge:" + json.dumps({"criteria": "the answer is polite", "base_url": judge_url, "api_key": "k"})
    rule = add_rule(collector, agent="judged-bot", evaluator=spec, sample_rate=1.0, name="politeness")
    assert rule["kind"] == "judge"
    send_runs(collector, "judged-bot", [("3.1", "hi", "please hold on"), ("3.1", "hi", "go away")])

    def pending() -> Any:
        items = call(collector, "GET", "/api/evaluation/pending").json()["items"]
        return items if len([i for i in items if i["rule_id"] == rule["id"]]) == 2 else None

    items = wait_until(pending, timeout=60, what="two runs waiting for the judge")
    assert {i["output"] for i in items if i["rule_id"] == rule["id"]} == {"please hold on", "go away"}
    assert call(collector, "GET", "/api/evaluation/pending", key=collector.ingest_key).status_code == 403
    done = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "evaluate", "--online", "--once",
                           "--url", collector.url, "--key", collector.read_key],
                          capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 0 and "runs judged" in done.stdout, done.stdout + done.stderr
    rows = [r for r in summary(collector, agent="judged-bot")]
    assert [(r["evaluator"], r["group"], r["mean"], r["scores"], r["failed"]) for r in rows] == \
        [("politeness", "3.1", 0.5, 2, 1)]
    assert not [i for i in call(collector, "GET", "/api/evaluation/pending").json()["items"]
                if i["rule_id"] == rule["id"]]


def test_evaluation_events_from_other_tools_become_scores(collector: RunningCollector) -> None:
    send_runs(collector, "evented-bot", [("0.9", "q", "a")], evaluation={
        sc.EVALUATION_NAME: "relevance", sc.EVALUATION_SCORE: 0.8, sc.EVALUATION_LABEL: "relevant",
        sc.EVALUATION_EXPLANATION: "on topic"})
    rows = wait_until(lambda: summary(collector, agent="evented-bot", source="ingest"), timeout=60,
                      what="the evaluation event's score")
    assert [(r["evaluator"], r["group"], r["mean"], r["source"]) for r in rows] == [("relevance", "0.9", 0.8, "ingest")]


def test_rules_cli_and_bad_rules(collector: RunningCollector) -> None:
    env = {**clean_env(), "FLIGHTLOG_API_KEY": collector.read_key}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "eval", "rules", *args, "--url",
                               collector.url], capture_output=True, text=True, timeout=120, env=env)

    done = cli("add", "--agent", "cli-bot", "--evaluator", "max_latency:2", "--sample-rate", "0.1")
    assert done.returncode == 0 and "on 10% of cli-bot's runs" in done.stdout, done.stderr
    rule_id = done.stdout.split()[1].rstrip(":")
    assert rule_id in cli("list").stdout
    assert cli("delete", rule_id).returncode == 0
    assert rule_id not in cli("list").stdout
    bad = cli("add", "--agent", "cli-bot", "--evaluator", "os:system", "--sample-rate", "1")
    assert bad.returncode == 1 and "built-in evaluator" in bad.stderr
    resp = call(collector, "POST", "/api/evaluation/rules", json={"agent": "x", "evaluator": "regex:(", "sample_rate": 1})
    assert resp.status_code == 400 and "evaluator" in resp.json()["error"]
    auditor = httpx.post(collector.url + "/api/admin/keys", json={"role": "auditor", "name": "Aud"}, timeout=30,
                         headers={"Authorization": f"Bearer {collector.admin_key}"}).json()["key"]
    resp = call(collector, "POST", "/api/evaluation/rules", key=auditor,
                json={"agent": "x", "evaluator": "json_valid", "sample_rate": 1})
    assert resp.status_code == 403


def test_a_run_is_scored_once_however_often_its_window_is_read(tmp_path: Any) -> None:
    """Passes overlap (a span's ingest time is taken before it is stored): a run seen by two
    passes — or after a judge replaced its pending mark — is not scored or marked again."""
    from datetime import datetime, timedelta, timezone

    from flightlog.collector.online_eval import OnlineEvaluator
    from flightlog.storage import evaluation as db
    from flightlog.storage import open_store

    store = open_store(f"chdb://{tmp_path}/store")
    try:
        now = datetime.now(timezone.utc)
        row = {"Project": "p", "TraceId": "ab" * 16, "SpanId": "cd" * 8, "SpanType": "agent", "AgentName": "a",
               "OutputText": "please", "Timestamp": now, "IngestTime": now - timedelta(seconds=30)}
        store.insert("spans", [list(row.values())], list(row))
        for evaluator, name in (("contains:please", "polite"), ('judge:{"criteria": "x"}', "judged")):
            db.put_rule(store, {"Project": "p", "RuleId": db.new_id(), "AgentName": "a", "Evaluator": evaluator,
                                "Name": name, "Kind": "judge" if name == "judged" else "rule", "SampleRate": 1.0,
                                "Deleted": 0, "ChangedBy": "t"})
        job = OnlineEvaluator(store)
        assert job.run_once(now) == 2  # a score and a pending mark
        judged = db.pending_judgements(store, "p")[0]
        db.add_scores(store, [{**{k: judged[k] for k in db.SCORE_COLUMNS if k != "CreatedAt"}, "Score": 1.0,
                               "Label": "pass"}])
        assert job.run_once(now + timedelta(seconds=5)) == 0  # the same window again: nothing new
        assert db.pending_judgements(store, "p") == []  # the judge's score stands
        rows = db.score_summary(store, "p")
        assert sorted((r["Evaluator"], r["Mean"], r["Scores"]) for r in rows) == [("judged", 1.0, 1), ("polite", 1.0, 1)]
    finally:
        store.close()


def test_evaluation_log_records_become_scores_of_their_span(collector: RunningCollector) -> None:
    """An evaluation sent as an OTLP log record (the GenAI event as a log) about an agent span."""
    trace_id = send_runs(collector, "logged-eval-bot", [("4.2", "q", "a")])[0]
    span_id = collector.api(f"/api/traces/{trace_id}")["spans"][0]["span_id"]
    attrs = [{"key": sc.EVALUATION_NAME, "value": {"stringValue": "faithfulness"}},
             {"key": sc.EVALUATION_SCORE, "value": {"doubleValue": 0.25}},
             {"key": sc.EVALUATION_LABEL, "value": {"stringValue": "unfaithful"}}]
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": str(__import__("time").time_ns()), "traceId": trace_id, "spanId": span_id,
        "eventName": sc.EVENT_EVALUATION_RESULT, "attributes": attrs}]}]}]}
    resp = collector.post("/v1/logs", json.dumps(logs).encode(), "application/json")
    assert resp.status_code == 200, resp.text
    rows = wait_until(lambda: summary(collector, agent="logged-eval-bot", source="ingest"), timeout=60,
                      what="the evaluation log record's score")
    assert [(r["evaluator"], r["group"], r["mean"], r["failed"]) for r in rows] == [("faithfulness", "4.2", 0.25, 0)]


def passes(c: RunningCollector) -> dict[str, float]:
    """``flightlog_online_eval_passes_total`` of one collector, by outcome (ran / skipped)."""
    resp = httpx.get(c.url + "/metrics", headers={"Authorization": f"Bearer {c.read_key}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    found = re.findall(r'^flightlog_online_eval_passes_total\{outcome="(\w+)"\} (\S+)$', resp.text, re.M)
    return {"ran": 0.0, "skipped": 0.0, **{k: float(v) for k, v in found}}


def test_the_pass_interval_is_a_setting_and_0_turns_the_job_off(tmp_path: Path) -> None:
    fast = start_collector(tmp_path / "fast", args=["--online-eval-interval", "0.25"])
    off = start_collector(tmp_path / "off", env={"FLIGHTLOG_ONLINE_EVAL_INTERVAL": "0"})
    try:
        first = wait_until(lambda: passes(fast)["ran"] or None, timeout=60, what="a first pass")
        started = time.monotonic()
        wait_until(lambda: passes(fast)["ran"] >= first + 8, timeout=60, what="8 more passes")
        # 8 passes at the default of one every 2 s would take 16 s
        assert time.monotonic() - started < 10, "the --online-eval-interval option was not applied"
        assert passes(off) == {"ran": 0.0, "skipped": 0.0}  # up all along, it never ran a pass
        bad = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "serve", "--data-dir",
                              str(tmp_path / "bad"), "--port", "0"], capture_output=True, text=True, timeout=120,
                             env={**clean_env(), "FLIGHTLOG_ONLINE_EVAL_INTERVAL": "soon"})
        assert bad.returncode != 0 and "FLIGHTLOG_ONLINE_EVAL_INTERVAL must be a number of seconds" in bad.stderr
    finally:
        off.stop()
        fast.stop()


def test_only_the_collector_holding_the_lease_runs_a_pass(tmp_path: Path) -> None:
    """Two collectors on one ClickHouse server, both with a pass every 0.25 s: every pass is run by
    one of them (the other skips its turn) and each sampled run is scored exactly once."""
    from flightlog.storage import open_store
    from support.harness import start_harness

    harness = start_harness(tmp_path / "server")
    first = second = None
    try:
        env = {"FLIGHTLOG_DSN": harness.dsn("flightlog"), "FLIGHTLOG_ONLINE_EVAL_INTERVAL": "0.25"}
        first = start_collector(tmp_path / "first", env=env)
        second = start_collector(tmp_path / "second", env=env, wait_for_keys=False)
        second.ingest_key, second.read_key, second.admin_key = first.ingest_key, first.read_key, first.admin_key
        rule = add_rule(first, agent="pair-bot", evaluator="contains:refunded", sample_rate=1.0, name="said_refunded")
        traces = send_runs(first, "pair-bot", [("1.0", f"order {n}", f"refunded {n}") for n in range(15)])
        traces += send_runs(second, "pair-bot", [("1.0", f"order {n}", f"kept {n}") for n in range(15)])
        rows = wait_until(lambda: [r for r in summary(second, agent="pair-bot") if r["scores"] >= 30] or None,
                          timeout=90, what="every run scored")
        assert (rows[0]["scores"], rows[0]["mean"]) == (30, 0.5)
        wait_until(lambda: min(passes(c)["skipped"] for c in (first, second)) > 0 or None, timeout=60,
                   what="each collector to find the other holding the lease")
        store = open_store(harness.dsn("flightlog"), migrate=False)
        try:
            stored = store.query_rows("SELECT TraceId, count() FROM evaluation_scores WHERE ItemId = {r:String}"
                                      " GROUP BY TraceId", {"r": rule["id"]})
        finally:
            store.close()
        assert sorted(t for t, _ in stored) == sorted(traces)
        assert {n for _, n in stored} == {1}  # no run was scored by both collectors
        ran = [passes(c)["ran"] for c in (first, second)]
        assert sum(ran) > 0
    finally:
        for running in (second, first):
            if running is not None:
                running.stop()
        harness.stop()
