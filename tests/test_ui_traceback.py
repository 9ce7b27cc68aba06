"""Tests for the Trace-back page (ui/views/traceback.py) and its pure helpers (ui/incident.py):
AppTest against the seeded collector, and table/Markdown helpers on plain data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from flightlog.collector import demo
from flightlog.ui import incident
from flightlog.ui.client import ApiClient
from support.apptest import text_rows

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
TIMEOUT = 60


@pytest.fixture
def collector_env(seeded_stack, monkeypatch):
    monkeypatch.setenv("FLIGHTLOG_API_URL", seeded_stack.api_url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", seeded_stack.read_key)
    return seeded_stack


@pytest.fixture(scope="module")
def refund_span(seeded_stack) -> dict:
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        spans = api.get_trace(seeded_stack.incident_trace_id).spans
    return next(s for s in spans if s["span_name"] == "execute_tool issue_refund")


@pytest.fixture(scope="module")
def back(seeded_stack, refund_span) -> dict:
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        return api.traceback(seeded_stack.incident_trace_id, refund_span["span_id"], compare=5)


def _open(page: str = "views/traceback.py", **query_params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(query_params)
    return at.run()


def _all_text(at: AppTest) -> str:
    parts = [str(e.value) for e in [*at.code, *at.text, *at.caption, *at.metric]]
    for frame in at.dataframe:
        value = frame.value
        value = getattr(value, "data", value)  # a Styler keeps its frame in .data
        parts.append(value.to_csv())
    return "\n".join(parts)


# -- pure helpers ---------------------------------------------------------------------


def test_input_rows_show_prompt_versions_in_time_order(back):
    rows = incident.input_rows(back)
    assert rows[0]["role"] == "user input"
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in [r["prompt"] for r in rows]
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


def test_comparison_rows_mark_what_differs(back):
    rows = incident.comparison_rows(back)
    assert rows[0]["run"] == "this run (incident)" and demo.INCIDENT_PROMPT_VERSION in rows[0]["prompts"]
    others = rows[1:]
    assert others and all(r["prompts"].startswith(incident.CHANGE_MARK) and "@v6" in r["prompts"] for r in others)
    assert all("prompts" in r["differs"] and "amount" in r["differs"] for r in others)
    marks = incident.differing_cells(rows)
    assert not any(marks[0]) and all(any(m) for m in marks[1:])


def test_incident_markdown_keeps_span_text_inside_fences():
    back = {"trace_id": "t", "span_id": "s", "target": {"span_name": "x`y", "role": "target",
            "tool_result": "```\n# not a heading\n```"}, "inputs": [], "chain": [], "profile": {}}
    md = incident.incident_markdown(back)
    assert "````text\n```\n# not a heading\n```\n````" in md
    assert "`` x`y ``" in md


def test_incident_markdown_and_json_of_the_incident(back):
    md = incident.incident_markdown(back)
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in md and "@v6" in md
    assert json.loads(incident.incident_json(back))["span_id"] == back["span_id"]


# -- the page -------------------------------------------------------------------------


def test_traceback_page_lists_v7_and_healthy_runs_on_v6(collector_env, refund_span):
    at = _open(trace_id=collector_env.incident_trace_id, span_id=refund_span["span_id"])
    assert not at.exception, at.exception
    text = _all_text(at)
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in text
    assert f"{demo.INCIDENT_PROMPT_ID}@v6" in text
    assert "execute_tool issue_refund" in text
    assert at.query_params["span_id"] == refund_span["span_id"]


def test_traceback_page_compare_count_goes_to_url(collector_env, refund_span):
    at = _open(trace_id=collector_env.incident_trace_id, span_id=refund_span["span_id"])
    at.selectbox(key="traceback.compare_n").set_value(5).run()
    assert not at.exception
    assert at.query_params["compare"] == "5"


def test_traceback_page_without_ids_explains_what_to_do(collector_env):
    at = _open()
    assert not at.exception
    assert any("Pick a span first" in str(i.value) for i in at.info)


def test_a_trace_without_a_span_offers_its_spans_tool_calls_first(collector_env, refund_span):
    at = _open(trace_id=collector_env.incident_trace_id)
    assert not at.exception, at.exception
    (picker,) = [s for s in at.selectbox if s.label == "Span"]
    first = [str(o) for o in picker.options][:2]
    assert all(" · tool · " in o for o in first), first
    chosen = next(o for o in picker.options if refund_span["span_id"] in str(o))
    picker.select(chosen).run()
    next(b for b in at.button if b.label == "Trace back from this span").click().run()
    assert not at.exception, at.exception
    assert refund_span["span_id"] in str(at.query_params.get("span_id")), at.query_params
    assert f"span {refund_span['span_id']}" in _all_text(at)


@pytest.mark.parametrize("span_id", ["0123456789abcdef", "nothex"])
def test_traceback_page_reports_unknown_or_bad_span(collector_env, span_id):
    at = _open(trace_id=collector_env.incident_trace_id, span_id=span_id)
    assert not at.exception
    assert at.warning, "expected a warning"


def test_trace_page_button_opens_traceback(collector_env, refund_span):
    at = _open("views/trace.py", trace_id=collector_env.incident_trace_id, span_id=refund_span["span_id"])
    at.button(key="trace.traceback").click().run()
    assert not at.exception
    assert any(str(t.value) == "Incident trace-back" for t in at.title)


def test_difference_summary_contrasts_v7_with_v6(back):
    summary = {d["field"]: d for d in incident.difference_summary(back)}
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in summary["prompts"]["this run"]
    assert any(f"{demo.INCIDENT_PROMPT_ID}@v6" in v for v in summary["prompts"]["other runs"])
    assert summary["agent version"]["this run"] == demo.INCIDENT_AGENT_VERSION
    assert "amount" in summary["input"]["other runs"][0]


def test_trace_page_button_opens_the_llm_call_that_decided_a_step(collector_env, refund_span):
    deciding = refund_span["span_attributes"]["flightlog.decided_by.span_id"]
    at = _open("views/trace.py", trace_id=collector_env.incident_trace_id, span_id=refund_span["span_id"])
    at.button(key="trace.decided_by").click().run()
    assert not at.exception
    assert at.query_params["span_id"] == deciding
    details = dict(text_rows(at, "trace-fields"))
    assert details["type"] == "llm"
    assert details["prompt version"] == demo.INCIDENT_PROMPT_VERSION


def test_what_differed_puts_the_amount_first(back):
    ranked = incident.ranked_differences(back)
    assert ranked[0]["field"] == "input amount" and ranked[0]["this run"] == "4950", ranked[:3]
    assert "above every other run" in ranked[0]["why"]
    fields = [d["field"] for d in ranked]
    assert fields.index("prompts") < fields.index("input order_id"), "a new prompt version beats differing ids"


def test_evidence_names_the_decider_and_the_checkpoint_in_its_own_words(back, seeded_stack, refund_span):
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api:
        spans = api.get_trace(seeded_stack.incident_trace_id).spans
    found = incident.evidence(back, spans)
    assert found["decided_by"]["span_id"] == refund_span["span_attributes"]["flightlog.decided_by.span_id"]
    assert found["checkpoint"]["span_type"] == "checkpoint" and "$49.50" in found["said"]
    assert '"amount": 4950' in found["did"]
    rows = {r["what"]: r for r in incident.evidence_rows(found)}
    assert f"{demo.INCIDENT_PROMPT_ID}@{demo.INCIDENT_PROMPT_VERSION}" in rows["decided by (LLM call)"]["details"]
    report = incident.incident_markdown(back, found)
    why = report.index("## Why it went through")
    assert why < report.index("## Causal chain") and "$49.50" in report[why:report.index("## Causal chain")]
    assert "What differed, most unusual first:\n\n1. ` input amount `" in report


def test_prompt_diff_shows_the_lines_that_changed():
    diff = incident.prompt_diff("a\nrule: dollars\nb", "a\nrule: minor units\nb", "p@v6", "p@v7")
    assert "--- p@v6" in diff and "+++ p@v7" in diff
    assert "-rule: dollars" in diff and "+rule: minor units" in diff
