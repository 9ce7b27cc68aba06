"""``flightlog eval run`` and ``flightlog.evaluate`` end to end against a live collector: a real
task module (tests/support/eval_tasks.py) runs per dataset item as a traced agent run, every
evaluator's result is stored with the experiment, and the exit status is the CI gate."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, clean_env, start_collector, wait_until

import flightlog

TESTS = Path(__file__).resolve().parent
EURO = [{"order_id": f"A{n}", "price": price, "prompt_version": "v6"} for n, price in enumerate((49.5, 12.0, 7.25))]
EVALUATORS = ["field_equals:amount", 'tool_called:{"tool": "issue_refund"}', "max_tokens:100",
              "support.eval_tasks:amount_is_a_price"]


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("eval-run"))
    try:
        yield running
    finally:
        running.stop()


def api(c: RunningCollector, method: str, path: str, **kw: Any) -> Any:
    resp = httpx.request(method, c.url + path, headers={"Authorization": f"Bearer {c.read_key}"}, timeout=60, **kw)
    assert resp.status_code < 300, f"{method} {path} → {resp.status_code}: {resp.text}"
    return resp.json()


def dataset(c: RunningCollector, name: str, inputs: list[dict[str, Any]]) -> None:
    api(c, "POST", "/api/datasets", json={"name": name})
    api(c, "POST", f"/api/datasets/{name}/items", json={"items": [
        {"input": i, "expected": {"amount": i["price"]}, "metadata": {"prompt": i["prompt_version"]}} for i in inputs]})


def eval_run(c: RunningCollector, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "FLIGHTLOG_API_KEY": key or c.read_key, "FLIGHTLOG_INGEST_KEY": c.ingest_key,
           "PYTHONPATH": str(TESTS)}
    return subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "eval", "run", "--url", c.url,
                           "--no-progress", *args], capture_output=True, text=True, timeout=300, env=env)


def _evaluators(*specs: str) -> list[str]:
    return [arg for spec in specs for arg in ("--evaluator", spec)]


def test_a_passing_gate_exits_0_and_stores_the_experiment_with_traced_runs(collector: RunningCollector) -> None:
    dataset(collector, "euro-refunds", EURO)
    done = eval_run(collector, "--dataset", "euro-refunds", "--task", "support.eval_tasks:refund_bot",
                    *_evaluators(*EVALUATORS), "--min-score", "field_equals=1", "--min-score", "tool_called=1",
                    "--name", "prompt v6")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  min-score field_equals: mean 1.000 >= 1" in done.stdout
    assert "3 items, 0 errors" in done.stdout
    experiment = api(collector, "GET", "/api/experiments", params={"dataset": "euro-refunds"})["experiments"][0]
    assert (experiment["name"], experiment["status"], experiment["results"], experiment["dataset_version"]) == \
        ("prompt v6", "finished", 3, 3)
    assert (experiment["agent_name"], experiment["agent_version"], experiment["prompt_version"], experiment["model"]) \
        == ("refund-bot", "2.2.0", "v6", "gpt-4o-mini")
    means = {s["evaluator"]: (s["mean"], s["passed"], s["failed"]) for s in experiment["scores"]}
    assert means == {"field_equals": (1.0, 3, 0), "tool_called": (1.0, 3, 0), "max_tokens": (1.0, 3, 0),
                     "amount_is_a_price": (1.0, 3, 0)}
    results = api(collector, "GET", f"/api/experiments/{experiment['id']}/results")["results"]
    assert [r["output"]["amount"] for r in results] == [49.5, 12.0, 7.25]
    assert [(r["tokens"], r["latency_ms"] > 0) for r in results] == [(50, True)] * 3
    # Each item ran as a traced agent run, linked to the experiment and its dataset item.
    first = results[0]
    trace = wait_until(lambda: _trace(collector, first["trace_id"], 4), timeout=60, what="the item's trace")
    root = next(s for s in trace["spans"] if s["span_id"] == first["span_id"])
    assert root["span_attributes"]["flightlog.experiment.id"] == experiment["id"]
    assert root["span_attributes"]["flightlog.dataset.item_id"] == first["item_id"]
    assert root["span_attributes"]["flightlog.dataset.name"] == "euro-refunds"
    assert {s["span_type"] for s in trace["spans"]} >= {"agent", "llm", "tool"}


def _trace(c: RunningCollector, trace_id: str, spans: int) -> Any:
    resp = c.get(f"/api/traces/{trace_id}")
    return resp.json() if resp.status_code == 200 and len(resp.json()["spans"]) >= spans else None


def test_a_failing_gate_exits_1_and_names_the_gate(collector: RunningCollector) -> None:
    """prompt v7 writes the amount in cents: the amount evaluator fails, and so does the gate."""
    dataset(collector, "cents-refunds", [{**EURO[0], "prompt_version": "v7"}, EURO[1]])
    done = eval_run(collector, "--dataset", "cents-refunds", "--task", "support.eval_tasks:refund_bot",
                    *_evaluators(*EVALUATORS), "--min-score", "field_equals=1", "--min-score", "max_tokens=1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  min-score field_equals: mean 0.500 < 1" in done.stdout
    assert "PASS  min-score max_tokens" in done.stdout
    assert "FAILED: min-score field_equals" in done.stderr
    experiment = api(collector, "GET", "/api/experiments", params={"dataset": "cents-refunds"})["experiments"][0]
    results = api(collector, "GET", f"/api/experiments/{experiment['id']}/results")["results"]
    cents = next(r for r in results if r["input"]["prompt_version"] == "v7")
    assert cents["output"]["amount"] == 4950
    score = next(s for s in cents["scores"] if s["name"] == "field_equals")
    assert (score["score"], score["label"]) == (0.0, "fail") and "4950" in score["explanation"]


def test_max_drop_against_the_last_experiment_and_a_named_baseline(collector: RunningCollector) -> None:
    dataset(collector, "drop-refunds", EURO)
    good = eval_run(collector, "--dataset", "drop-refunds", "--task", "support.eval_tasks:refund_bot",
                    *_evaluators("field_equals:amount"), "--baseline", "last", "--max-drop", "0")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "no baseline (last) yet" in good.stdout
    first_id = api(collector, "GET", "/api/experiments", params={"dataset": "drop-refunds"})["experiments"][0]["id"]
    broken = eval_run(collector, "--dataset", "drop-refunds", "--task", "support.eval_tasks:broken",
                      *_evaluators("field_equals:amount"), "--baseline", "last", "--max-drop", "0.5")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "FAIL  max-drop field_equals: mean 0.000 vs baseline 1.000 (drop 1.000, allowed 0.5)" in broken.stdout
    assert "3 items, 3 errors" in broken.stdout
    # Against the first experiment by id, a second good run holds the gate.
    again = eval_run(collector, "--dataset", "drop-refunds", "--task", "support.eval_tasks:refund_bot",
                     *_evaluators("field_equals:amount"), "--baseline", first_id, "--max-drop", "0",
                     "--concurrency", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "PASS  max-drop field_equals: mean 1.000 vs baseline 1.000" in again.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "no-such-dataset", "--task", "support.eval_tasks:refund_bot"], "no dataset 'no-such-dataset'"),
    (["--dataset", "euro-refunds", "--task", "support.eval_tasks:nope"], "cannot load task"),
    (["--dataset", "euro-refunds", "--task", "support.eval_tasks:refund_bot", "--evaluator", "bogus"],
     "unknown evaluator"),
    (["--dataset", "euro-refunds", "--task", "support.eval_tasks:refund_bot", "--min-score", "exact"],
     "EVALUATOR=NUMBER"),
    (["--dataset", "euro-refunds", "--task", "support.eval_tasks:refund_bot", "--max-drop", "0.1"], "--baseline"),
])
def test_usage_errors_exit_2_or_1_with_a_reason(collector: RunningCollector, args: list[str], message: str) -> None:
    done = eval_run(collector, *args)
    assert done.returncode in (1, 2) and message in done.stderr, done.stdout + done.stderr


def test_an_auditor_key_may_not_store_experiments(collector: RunningCollector) -> None:
    auditor = httpx.post(collector.url + "/api/admin/keys", json={"role": "auditor", "name": "Aud"}, timeout=30,
                         headers={"Authorization": f"Bearer {collector.admin_key}"}).json()["key"]
    done = eval_run(collector, "--dataset", "euro-refunds", "--task", "support.eval_tasks:refund_bot", key=auditor)
    assert done.returncode == 1 and "HTTP 403" in done.stderr


def test_the_python_api_with_an_async_task(collector: RunningCollector) -> None:
    api(collector, "POST", "/api/datasets", json={"name": "echo"})
    api(collector, "POST", "/api/datasets/echo/items", json={"items": [
        {"input": "hello", "expected": "hello"}, {"input": {"a": 1}, "expected": {"a": 2}}]})
    from support import eval_tasks

    report = flightlog.evaluate("echo", eval_tasks.async_echo, ["exact"], url=collector.url, key=collector.read_key,
                                ingest_key=collector.ingest_key, min_scores={"exact": 0.5}, progress=False)
    assert report.passed and report.means == {"exact": 0.5}
    assert [i.output for i in report.items] == ["hello", {"a": 1}]
    assert report.spans_not_delivered == 0
    stored = api(collector, "GET", f"/api/experiments/{report.experiment_id}")
    assert stored["scores"][0]["mean"] == 0.5 and stored["task"].endswith(":async_echo")


def test_the_pytest_fixture_fails_a_test_on_a_failed_gate(collector: RunningCollector, tmp_path: Path) -> None:
    dataset(collector, "pytest-refunds", [{**EURO[0], "prompt_version": "v7"}])
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["flightlog.pytest_plugin"]\n')
    (tmp_path / "test_refunds.py").write_text(textwrap.dedent("""
        def test_v7_refunds(flightlog_eval):
            flightlog_eval("pytest-refunds", "support.eval_tasks:refund_bot", ["field_equals:amount"],
                           min_scores={"field_equals": 1.0})

        def test_v7_tool_is_called(flightlog_eval):
            report = flightlog_eval("pytest-refunds", "support.eval_tasks:refund_bot", ["tool_called:issue_refund"],
                                    min_scores={"tool_called": 1.0})
            assert report.means["tool_called"] == 1.0
    """))
    env = {**clean_env(), "PYTHONPATH": str(TESTS)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path),
                           "--flightlog-url", collector.url, "--flightlog-key", collector.read_key,
                           "--flightlog-ingest-key", collector.ingest_key],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout
    assert "evaluation gate failed" in done.stdout and "FAIL  min-score field_equals: mean 0.000 < 1" in done.stdout


def test_results_posted_for_a_finished_experiment_are_refused(collector: RunningCollector) -> None:
    experiment = api(collector, "GET", "/api/experiments", params={"dataset": "euro-refunds"})["experiments"][0]
    item = api(collector, "GET", "/api/datasets/euro-refunds/items")["items"][0]
    resp = httpx.post(f"{collector.url}/api/experiments/{experiment['id']}/results", timeout=30,
                      headers={"Authorization": f"Bearer {collector.read_key}"},
                      json={"results": [{"item_id": item["id"], "output": 1}]})
    assert resp.status_code == 409 and "finished" in resp.json()["error"]
    assert api(collector, "GET", f"/api/experiments/{experiment['id']}")["results"] == 3


def test_scores_split_by_agent_version_prompt_version_and_model(collector: RunningCollector) -> None:
    """The Compare page's grouped view: every finished experiment on a dataset, per evaluator, split by
    what each item's own run used (prompt v6 on agent 2.2.0 writes euros, v7 on 2.3.0 cents)."""
    from support import eval_tasks

    dataset(collector, "split-refunds", EURO)
    for task in (eval_tasks.refund_bot, eval_tasks.refund_bot_v7):
        flightlog.evaluate("split-refunds", task, ["field_equals:amount", "max_tokens:100"], url=collector.url,
                           key=collector.read_key, ingest_key=collector.ingest_key, progress=False)
    running = api(collector, "POST", "/api/experiments", json={"dataset": "split-refunds", "name": "unfinished"})
    item = api(collector, "GET", "/api/datasets/split-refunds/items")["items"][0]
    api(collector, "POST", f"/api/experiments/{running['id']}/results", json={"results": [
        {"item_id": item["id"], "output": {}, "prompt_version": "v6",
         "scores": [{"name": "field_equals", "score": 0.0}]}]})

    def split(by: str) -> list[tuple[Any, ...]]:
        body = api(collector, "GET", "/api/experiments/grouped", params={"by": by, "dataset": "split-refunds"})
        assert (body["by"], body["dataset"]) == (by, "split-refunds")
        return [(r["group"], r["evaluator"], r["mean"], r["items"], r["passed"], r["failed"], r["experiments"])
                for r in body["rows"] if r["evaluator"] == "field_equals"]

    # the running experiment's 0.0 for v6 is not counted: only finished experiments are
    assert split("prompt_version") == [("v6", "field_equals", 1.0, 3, 3, 0, 1),
                                       ("v7", "field_equals", 0.0, 3, 0, 3, 1)]
    assert split("agent_version") == [("2.2.0", "field_equals", 1.0, 3, 3, 0, 1),
                                      ("2.3.0", "field_equals", 0.0, 3, 0, 3, 1)]
    assert split("model") == [("gpt-4o-mini", "field_equals", 0.5, 6, 3, 3, 2)]
    tokens = api(collector, "GET", "/api/experiments/grouped", params={"by": "model", "dataset": "split-refunds"})
    assert [(r["evaluator"], r["mean"]) for r in tokens["rows"] if r["evaluator"] != "field_equals"] == \
        [("max_tokens", 1.0)]
    other = api(collector, "GET", "/api/experiments/grouped", params={"by": "model", "dataset": "no-such-dataset"})
    assert other["rows"] == []
    bad = httpx.get(collector.url + "/api/experiments/grouped", params={"by": "tool"}, timeout=30,
                    headers={"Authorization": f"Bearer {collector.read_key}"})
    assert bad.status_code == 400 and "by" in bad.text and "prompt_version" in bad.text, bad.text
