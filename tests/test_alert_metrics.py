"""Every alert metric against figures worked out by hand from seeded spans (docs/alerts.md,
"Metrics"): the spans go over OTLP to a real collector on chDB, each metric is read back as the
last evaluation of a rule (the collector evaluates every second).

The seeded runs of ``metric-bot`` 2.0.0 (durations in ms):

| run | status | duration | LLM calls (model, prompt, tokens in/out, cost, status) | tools | checkpoints (tier, wait) |
|-----|--------|----------|----------------------------------------------------------|-------|--------------------------|
| R1  | ok     | 100      | m-a, p@v1, 100/20, 0.010, ok                              | ok    | (1, 0)                   |
| R2  | error  | 300      | m-a, p@v1, 200/30, 0.020, error                           | error, ok | (2, 150)             |
| R3  | ok     | 1000     | m-b, p@v2, 50/10, 0.005, ok                               | —     | (3, 900)                 |
| R4  | ok     | 200      | —                                                          | —     | —                        |

Runs: 4, one failed. Latency without human waits: 100, 150, 100, 200. Tokens: 410. Cost:
0.035 in the 15-minute window. Tool calls 3, one failed. Checkpoints 3, two escalated (tier ≥ 2).
Review scores of R1 and R2: 8 and 4.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, start_collector, wait_until
from support.spans import Run, run_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

AGENT = "metric-bot"
RUNS = [
    Run(agent=AGENT, version="2.0.0", duration_ms=100, tools=[False], checkpoints=[(1, 0.0)],
        llm=[{"model": "m-a", "prompt_id": "p", "prompt_version": "v1", "tokens_in": 100, "tokens_out": 20,
              "cost": 0.010}]),
    Run(agent=AGENT, version="2.0.0", failed=True, duration_ms=300, tools=[True, False], checkpoints=[(2, 150.0)],
        llm=[{"model": "m-a", "prompt_id": "p", "prompt_version": "v1", "tokens_in": 200, "tokens_out": 30,
              "cost": 0.020, "failed": True}]),
    Run(agent=AGENT, version="2.0.0", duration_ms=1000, checkpoints=[(3, 900.0)],
        llm=[{"model": "m-b", "prompt_id": "p", "prompt_version": "v2", "tokens_in": 50, "tokens_out": 10,
              "cost": 0.005}]),
    Run(agent=AGENT, version="2.0.0", duration_ms=200),
]
SCOPE = {"agent": AGENT}

CASES = [
    # (metric, scope, expected value, expected samples)
    ("error_rate", SCOPE, 1 / 4, 4),
    ("success_rate", SCOPE, 3 / 4, 4),
    ("error_rate", {**SCOPE, "agent_version": "2.0.0"}, 1 / 4, 4),
    ("error_rate", {**SCOPE, "agent_version": "9.9.9"}, None, 0),
    ("error_rate", {**SCOPE, "prompt_version": "v1"}, 1 / 2, 2),  # the unit is the LLM call
    ("error_rate", {**SCOPE, "model": "m-b"}, 0.0, 1),
    ("latency_p95_ms", SCOPE, 200.0, 4),  # 1000 ms with R3's 900 ms human wait counted
    ("latency_p95_ms", {**SCOPE, "model": "m-a"}, 10.0, 2),
    ("cost_per_hour", SCOPE, 0.035 * 4, 3),
    ("cost_per_day", SCOPE, 0.035 * 96, 3),
    ("tokens_per_run", SCOPE, 410 / 4, 4),
    ("tokens_per_run", {**SCOPE, "prompt_id": "p", "prompt_version": "v1"}, 350 / 2, 2),
    ("checkpoint_escalation_rate", SCOPE, 2 / 3, 3),
    ("tool_error_rate", SCOPE, 1 / 3, 3),
    ("mean_score", SCOPE, 6.0, 2),
]


def call(collector: RunningCollector, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, collector.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                         **kwargs)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("alert-metrics"), env={"FLIGHTLOG_ALERT_INTERVAL_S": "1"})
    try:
        traces = [run_spans(run) for run in RUNS]
        body = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
            scope_spans=[ScopeSpans(spans=[s for _, spans in traces for s in spans])])]).SerializeToString()
        assert running.post("/v1/traces", body, "application/x-protobuf").status_code == 200
        running.drain()
        admin = running.admin_key
        assert call(running, "PUT", "/api/admin/reviews/settings", admin, json={"agent": AGENT, "rate": 1.0}
                    ).status_code == 200
        today = datetime.now(timezone.utc).date()
        for day in {today, date.fromtimestamp(datetime.now(timezone.utc).timestamp() - 5)}:
            assert call(running, "POST", "/api/admin/reviews/sample", admin,
                        params={"day": day.isoformat()}).status_code == 200
        for (trace_id, _), score in zip(traces[:2], (8, 4), strict=True):
            resp = call(running, "POST", "/api/audit/reviews/scores", running.read_key,
                        json={"trace_id": trace_id, "score": score})
            assert resp.status_code == 200, resp.text
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize(("metric", "scope", "expected", "samples"), CASES,
                         ids=[f"{m}-{'-'.join(f'{k}={v}' for k, v in s.items())}" for m, s, _, _ in CASES])
def test_each_metric_matches_the_hand_computed_figure(seeded: RunningCollector, metric: str, scope: dict[str, str],
                                                      expected: float | None, samples: int) -> None:
    resp = call(seeded, "POST", "/api/alerts/rules", seeded.admin_key, json={
        "name": f"{metric} check", "metric": metric, "scope": scope, "window": "15m", "threshold": 1e9,
        "min_samples": 1})
    assert resp.status_code == 200, resp.text
    rule_id = resp.json()["id"]
    try:
        def evaluated() -> dict[str, Any] | None:
            got = call(seeded, "GET", f"/api/alerts/rules/{rule_id}", seeded.read_key).json()
            return got["last_evaluation"]

        last = wait_until(evaluated, timeout=30, what=f"an evaluation of {metric}")
        assert last["samples"] == samples
        if expected is None:
            assert last["value"] is None and last["breached"] is None
        else:
            assert last["value"] == pytest.approx(expected, rel=1e-9)
            assert last["breached"] is False
    finally:
        call(seeded, "DELETE", f"/api/alerts/rules/{rule_id}", seeded.admin_key)


def test_monitoring_filters_by_the_agent_version_an_alert_link_names(seeded: RunningCollector) -> None:
    def units(**params: str) -> int:
        resp = call(seeded, "GET", "/api/insights/monitoring", seeded.read_key, params={"agent": AGENT, **params})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert sum(t["calls"] for t in body["tools"]["tools"]) == (3 if params.get("agent_version") != "9.9.9" else 0)
        return sum(r["units"] for r in body["series"])

    assert units() == 4 and units(agent_version="2.0.0") == 4 and units(agent_version="9.9.9") == 0
