"""The demo's evaluation (collector/demo/evaluation.py) through ``flightlog demo`` and the real
API: the refund-regressions dataset holds the incident's order, the prompt v6 experiment passes
and v7 fails "amount equals the order line price" on every item, and the same evaluator as a CI
gate stops a v7 run (exit 1) and lets v6 through (exit 0)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, clean_env, start_collector
from flightlog.collector import demo
from flightlog.collector.demo import evaluation as demo_eval

TESTS = Path(__file__).resolve().parent
GATE = "flightlog.collector.demo.evaluation:AMOUNT_EQUALS_ORDER_LINE_PRICE"


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("demo-eval"))
    try:
        done = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "demo", "--url", running.url,
                               "--key", running.ingest_key, "--admin-key", running.admin_key],
                              capture_output=True, text=True, timeout=600, env=clean_env())
        assert done.returncode == 0, done.stdout + done.stderr
        yield running
    finally:
        running.stop()


def api(c: RunningCollector, path: str, **params: Any) -> Any:
    resp = httpx.get(c.url + path, params=params, headers={"Authorization": f"Bearer {c.read_key}"}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_the_dataset_holds_the_incident(collector: RunningCollector) -> None:
    items = api(collector, f"/api/datasets/{demo_eval.DATASET}/items")["items"]
    incident = next(i for i in items if i["input"]["order_id"] == demo.INCIDENT_ORDER_ID)
    assert incident["source_trace_id"] == demo.INCIDENT_TRACE_ID
    assert incident["input"]["order_line_price"] == 49.5 and incident["expected"]["amount"] == 49.5
    assert "4950" in incident["metadata"]["incident"]
    # The item's source is a stored trace: the incident itself.
    assert api(collector, f"/api/traces/{incident['source_trace_id']}")["spans"]


def test_v7_fails_the_amount_evaluator_where_v6_passes(collector: RunningCollector) -> None:
    experiments = api(collector, "/api/experiments", dataset=demo_eval.DATASET)["experiments"]
    by_prompt = {e["prompt_version"]: e for e in experiments}
    assert set(by_prompt) == {"v6", "v7"}
    assert (by_prompt["v7"]["agent_name"], by_prompt["v7"]["agent_version"]) == (demo.INCIDENT_AGENT, "2.3.0")
    means = {p: {s["evaluator"]: s["mean"] for s in e["scores"]} for p, e in by_prompt.items()}
    assert means["v6"][demo_eval.AMOUNT_EVALUATOR] == 1.0 and means["v7"][demo_eval.AMOUNT_EVALUATOR] == 0.0
    compared = api(collector, "/api/experiments/compare", ids=f"{by_prompt['v6']['id']},{by_prompt['v7']['id']}")
    assert compared["regressions"] == len(demo_eval.ORDERS)
    worst = compared["items"][0]
    cents = worst["results"][1]
    assert cents["output"]["amount"] == round(worst["input"]["order_line_price"] * 100)
    score = next(s for s in cents["scores"] if s["name"] == demo_eval.AMOUNT_EVALUATOR)
    assert score["label"] == "fail" and "for an order line of" in score["explanation"]


@pytest.mark.parametrize(("task", "status"), [("demo_refund_v6", 0), ("demo_refund_v7", 1)])
def test_the_amount_gate_in_ci(collector: RunningCollector, task: str, status: int) -> None:
    env = {**clean_env(), "FLIGHTLOG_API_KEY": collector.admin_key, "PYTHONPATH": str(TESTS)}
    done = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "eval", "run", "--url", collector.url,
                           "--dataset", demo_eval.DATASET, "--task", f"support.eval_tasks:{task}",
                           "--evaluator", GATE, "--min-score", f"{demo_eval.AMOUNT_EVALUATOR}=1", "--no-progress"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == status, done.stdout + done.stderr
    verdict = "PASS" if status == 0 else "FAIL"
    assert f"{verdict}  min-score {demo_eval.AMOUNT_EVALUATOR}" in done.stdout


def test_seeding_twice_adds_nothing(collector: RunningCollector) -> None:
    before = api(collector, f"/api/datasets/{demo_eval.DATASET}")["version"]
    again = demo_eval.seed_evaluation(collector.url, collector.admin_key)
    assert again["experiments"] == [] and api(collector, f"/api/datasets/{demo_eval.DATASET}")["version"] == before
