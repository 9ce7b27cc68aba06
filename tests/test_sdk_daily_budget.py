"""The SDK stops a run when the collector says today's per-user budget is used up."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog
from flightlog._remote_budget import REMOTE

from conftest import RunningCollector


@pytest.fixture
def sdk_to(collector: RunningCollector):
    def init(exporter=None):
        flightlog.init(agent_name="budget-bot", endpoint=collector.url, api_key=collector.ingest_key,
                       exporter=exporter)
    yield init
    flightlog.shutdown()
    REMOTE.forget()


def test_a_spent_user_budget_stops_the_next_call_and_is_recorded(collector: RunningCollector, sdk_to) -> None:
    resp = httpx.put(collector.url + "/api/admin/budgets", json={"scope": "user", "subject": "u-42", "max_tokens": 1000},
                     headers={"Authorization": f"Bearer {collector.admin_key}"})
    assert resp.status_code == 200, resp.text
    sdk_to()  # real OTLP export to the collector
    with flightlog.agent_run("budget-bot", user_id="u-42"):
        with flightlog.llm_call("gpt-4o-mini") as call:
            call.set_usage(input_tokens=900, output_tokens=300)  # today's usage: 1200 > 1000
    flightlog.flush()
    collector.drain()
    REMOTE.forget()

    memory = InMemorySpanExporter()
    flightlog.shutdown()
    sdk_to(exporter=memory)
    with pytest.raises(flightlog.BudgetExceeded, match="daily_budget"):
        with flightlog.agent_run("budget-bot", user_id="u-42", limits=flightlog.Limits(daily_budget=True)):
            with flightlog.llm_call("gpt-4o-mini"):
                pytest.fail("the call must not start")
    flightlog.flush()
    spans = memory.get_finished_spans()
    assert any("daily_budget" in str(s.attributes.get("flightlog.limit.violation", "")) for s in spans)

    # Another user has no budget: the same run goes ahead.
    with flightlog.agent_run("budget-bot", user_id="u-7", limits=flightlog.Limits(daily_budget=True)):
        with flightlog.llm_call("gpt-4o-mini") as call:
            call.set_output("ok")


def test_an_unreachable_collector_does_not_stop_the_run(sdk_to) -> None:
    flightlog.init(agent_name="budget-bot", endpoint="http://127.0.0.1:9", api_key="k",
                   exporter=InMemorySpanExporter())
    with flightlog.agent_run("budget-bot", user_id="u-1", limits=flightlog.Limits(daily_budget=True)):
        with flightlog.llm_call("gpt-4o-mini") as call:
            call.set_output("still works")
