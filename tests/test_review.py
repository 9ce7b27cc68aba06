"""Tests for human review sampling (flightlog.collector.audit.reviews): the sampled share of each
agent's runs is within tolerance of its rate, scores are attributed to the reviewer and
feed the trend by agent and prompt version."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from conftest import RunningCollector, start_collector
from test_retention import admin

RUNS = {"alpha-bot": 1000, "beta-bot": 300}


def _runs_request(agent: str, n: int, now: int, rng: random.Random) -> bytes:
    spans = []
    for i in range(n):
        spans.append({"traceId": f"{rng.getrandbits(128):032x}", "spanId": f"{rng.getrandbits(64):016x}",
                      "name": "run", "kind": 1, "startTimeUnixNano": str(now - i * 1000),
                      "endTimeUnixNano": str(now - i * 1000 + 10),
                      "attributes": [{"key": "gen_ai.agent.name", "value": {"stringValue": agent}},
                                     {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                                     {"key": "flightlog.prompt.version", "value": {"stringValue": "v2"}}]})
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": agent}}]},
                               "scopeSpans": [{"scope": {"name": "tests"}, "spans": spans}]}]}
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("reviews"))
    rng = random.Random(42)
    now = time.time_ns() - 60 * 10**9
    for agent, n in RUNS.items():
        assert running.post("/v1/traces", _runs_request(agent, n, now, rng), "application/json").status_code == 200
    running.drain()
    admin(running, "PUT", "/api/admin/reviews/settings", {"agent": "alpha-bot", "rate": 0.2})
    admin(running, "PUT", "/api/admin/reviews/settings", {"agent": "", "rate": 0.0})
    day = datetime.fromtimestamp(now / 1e9, tz=timezone.utc).date().isoformat()
    running.extra["sample"] = admin(running, "POST", "/api/admin/reviews/sample", day=day)
    running.extra["day"] = day
    yield running
    running.stop()


def test_sampled_share_is_within_tolerance(sampled: RunningCollector) -> None:
    queue = sampled.api("/api/audit/reviews/queue", limit=1000)["queue"]
    alpha = [q for q in queue if q["agent"] == "alpha-bot"]
    assert 0.15 <= len(alpha) / RUNS["alpha-bot"] <= 0.25, len(alpha)
    assert not [q for q in queue if q["agent"] == "beta-bot"]  # default rate 0
    assert sampled.extra["sample"]["queued"] == len(alpha)


def test_sampling_again_does_not_grow_the_queue(sampled: RunningCollector) -> None:
    again = admin(sampled, "POST", "/api/admin/reviews/sample", day=sampled.extra["day"])
    assert again["queued"] == sampled.extra["sample"]["queued"]


def test_scores_are_attributed_and_trend_by_agent_and_prompt(sampled: RunningCollector) -> None:
    queue = sampled.api("/api/audit/reviews/queue", limit=1000)["queue"]
    first, second = queue[0], queue[1]
    for run, score in ((first, 4.0), (second, 2.0)):
        resp = httpx.post(sampled.url + "/api/audit/reviews/scores", timeout=30,
                          json={"trace_id": run["trace_id"], "score": score, "label": "ok", "comment": "fine"},
                          headers={"Authorization": f"Bearer {sampled.read_key}"})
        assert resp.status_code == 200, resp.text
    keys = {k["role"]: k["key_id"] for k in sampled.get("/api/admin/keys", key=sampled.admin_key).json()["keys"]}
    scores = sampled.api("/api/audit/reviews/scores")["scores"]
    assert {s["reviewer"] for s in scores} == {keys["engineer"]}
    pending = {q["trace_id"] for q in sampled.api("/api/audit/reviews/queue", limit=1000)["queue"]}
    assert first["trace_id"] not in pending
    by_agent = sampled.api("/api/audit/reviews/trend", by="agent")["points"]
    assert by_agent == [{"day": by_agent[0]["day"], "agent": "alpha-bot", "mean_score": 3.0, "scores": 2}]
    by_prompt = sampled.api("/api/audit/reviews/trend", by="prompt_version")["points"]
    assert by_prompt[0]["prompt_version"] == "v2"


def test_scoring_a_run_outside_the_queue_is_refused(sampled: RunningCollector) -> None:
    resp = httpx.post(sampled.url + "/api/audit/reviews/scores", json={"trace_id": "e" * 32, "score": 1},
                      headers={"Authorization": f"Bearer {sampled.read_key}"}, timeout=30)
    assert resp.status_code == 404
