"""The UI side of the control loop: the pure helpers of the inbox (ui/inbox.py) and of the policy
in plain words (ui/rules.py), the client's control calls (ui/client.py, scripted with
httpx.MockTransport), and the Approvals, Control and Policies pages and the sign-in box with
Streamlit's AppTest against a real collector (approvals proposed over HTTP as an agent does).
The same pages in a real browser: tests/test_ui_control_browser.py."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from conftest import RunningCollector, start_collector
from flightlog.ui import inbox, rules
from flightlog.ui.client import ApiClient, ApiError
from support import control_ui as cu

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")
TIMEOUT = 60
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def _at(minutes: float) -> str:
    return (NOW + dt.timedelta(minutes=minutes)).isoformat()


def _approval(**fields: Any) -> dict[str, Any]:
    base = {"id": "a" * 20, "status": "pending", "tier": 3, "action": "refund order 1", "tool": "issue_refund",
            "arguments": {"amount": 1}, "edited_arguments": None, "confidence": 0.9, "agent": "refund-bot",
            "agent_version": "2.3.0", "requested_at": _at(-10), "expires_at": _at(30), "decided_at": None,
            "approver": None, "reason": None, "consumed_at": None, "escalated_at": None, "on_timeout": "reject",
            "decided_by": None, "policy": None}
    return {**base, **fields}


# -- inbox (pure) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "no deadline"), (-3, "expiring now"), (0, "expiring now"), (42.9, "42s left"), (250, "4m 10s left"),
    (3900, "1h 05m left"), (2 * 86400 + 3600, "2d 01h left")])
def test_time_left_is_shown_for_people(seconds, shown):
    assert inbox.format_left(seconds) == shown


def test_inbox_rows_keep_the_api_order_and_mark_the_oldest_the_soon_expiring_and_escalated():
    approvals = [
        _approval(id="soon", requested_at=_at(-2), expires_at=_at(3)),
        _approval(id="old", requested_at=_at(-50), expires_at=_at(20), escalated_at=_at(-5)),
        _approval(id="done", status="approved"),
        _approval(id="later", requested_at=_at(-1), expires_at=_at(60)),
    ]
    rows = inbox.inbox_rows(approvals, NOW)
    assert [r["id"] for r in rows] == ["soon", "old", "later"]
    assert [r["note"] for r in rows] == ["expires soon", "oldest, escalated", ""]
    assert rows[0]["time left"] == "3m 00s left" and rows[1]["waiting"] == "50m 00s"
    # the narrow inbox shows the note with the time left, the agent with its action
    assert [r["deadline"] for r in rows] == ["3m 00s left, expires soon", "20m 00s left, oldest, escalated",
                                             "1h 00m left"]
    assert rows[0]["wants"] == f"{rows[0]['agent']}: {rows[0]['action']}"
    assert inbox.oldest_pending(approvals) == "old" and inbox.oldest_pending([]) == ""


def test_history_rows_say_who_decided_why_and_whether_the_agent_used_it():
    rows = inbox.history_rows([
        _approval(id="p"),
        _approval(id="used", status="approved", approver="Dana", reason="ok", decided_at=_at(1), consumed_at=_at(2)),
        _approval(id="edited", status="approved", approver="Dana", edited_arguments={"amount": 0.5}),
        _approval(id="no", status="rejected", approver="Dana", reason="too much"),
        _approval(id="expired", status="expired", reason="no decision in time"),
        _approval(id="expired-ok", status="expired", on_timeout="approve"),
    ])
    by_id = {r["id"]: r for r in rows}
    assert "p" not in by_id
    assert by_id["used"]["used by the agent"] == "yes, 2026-03-01 12:02:00.000"
    assert by_id["edited"]["status"] == "approved (edited arguments)" and by_id["edited"]["used by the agent"] == "not yet"
    assert by_id["no"]["used by the agent"] == "no" and by_id["no"]["reason"] == "too much"
    assert by_id["expired"]["approver"] == "— (expired)" and by_id["expired-ok"]["used by the agent"] == "not yet"


def test_approval_facts_and_the_why():
    approval = _approval(confidence=0.72, decided_by={"span_id": "c" * 16, "model": "gpt-4o",
                                                      "prompt_id": "refund-policy", "prompt_version": "v7"},
                         policy={"id": "refund-bot", "version": 3}, trace_id="t" * 32)
    facts = inbox.approval_facts(approval, NOW)
    assert facts == {"tool": "issue_refund", "agent": "refund-bot", "agent version": "2.3.0", "tier": "3 · approve",
                     "confidence": "72%", "time left": "30m 00s left", "if nobody decides": "reject",
                     "waiting": "10m 00s"}
    assert inbox.approval_facts({**approval, "status": "rejected"}, NOW)["status"] == "rejected"
    why = inbox.why_facts(approval)
    assert why["model"] == "gpt-4o" and why["prompt"] == "refund-policy@v7" and why["policy in force"] == "refund-bot v3"
    assert inbox.why_facts(_approval())["policy in force"] == "none"


def test_the_run_so_far_is_in_start_order_without_control_events():
    spans = [
        {"span_id": "2", "start_ns": 20, "span_type": "llm", "span_name": "chat", "input_text": "q", "output_text": "a"},
        {"span_id": "1", "start_ns": 10, "span_type": "agent", "span_name": "run", "input_text": "ask", "output_text": ""},
        {"span_id": "3", "start_ns": 30, "span_type": "tool", "span_name": "t", "tool_args": "{}", "tool_result": "ok"},
        {"span_id": "4", "start_ns": 40, "span_type": "control", "span_name": "approval.requested", "input_text": "x"},
        {"span_id": "5", "start_ns": 50, "span_type": "checkpoint", "span_name": "cp"},
    ]
    steps = inbox.run_so_far(spans)
    assert [s["span_id"] for s in steps] == ["1", "2", "3"]
    assert (steps[2]["input"], steps[2]["output"]) == ("{}", "ok")
    assert inbox.deciding_call(spans, "2")["output_text"] == "a" and inbox.deciding_call(spans, "") is None


def test_edited_arguments_must_parse():
    assert inbox.parse_arguments('{"amount": 49.5}') == ({"amount": 49.5}, "")
    value, error = inbox.parse_arguments('{"amount": 49.5')
    assert value is None and error.startswith("Not valid JSON")
    assert inbox.parse_arguments("  ")[1].startswith("The edited arguments are empty")
    assert json.loads(inbox.arguments_text({"a": [1, "<b>"]})) == {"a": [1, "<b>"]}


@pytest.mark.parametrize(("who", "approve", "pause"), [
    (None, False, False),
    ({"role": "engineer", "permissions": [], "name": "Eve"}, False, False),
    ({"role": "engineer", "permissions": ["approve"], "name": "Dana"}, True, False),
    ({"role": "auditor", "permissions": ["approve"], "name": "Aud"}, True, False),
    ({"role": "ingest", "permissions": ["approve"], "name": "bot"}, False, False),
    ({"role": "admin", "permissions": [], "name": "Ada"}, True, True),
])
def test_who_may_decide_and_pause(who, approve, pause):
    assert inbox.may_approve(who) is approve and inbox.may_pause(who) is pause
    assert (inbox.why_not_approve(who) == "") is approve and (inbox.why_not_pause(who) == "") is pause
    if who and not approve:
        assert who["name"] in inbox.why_not_approve(who)


def test_pauses_covering_an_agent_version():
    pauses = [{"agent": "", "agent_version": "", "tool": "", "scope": "the whole project"},
              {"agent": "a", "agent_version": "", "tool": "", "scope": "agent a"},
              {"agent": "a", "agent_version": "1", "tool": "", "scope": "agent a 1"},
              {"agent": "a", "agent_version": "2", "tool": "", "scope": "agent a 2"},
              {"agent": "a", "agent_version": "", "tool": "t", "scope": "agent a tool t"},
              {"agent": "b", "agent_version": "", "tool": "", "scope": "agent b"}]
    assert [p["scope"] for p in inbox.pauses_covering(pauses, "a", "1")] == [
        "the whole project", "agent a", "agent a 1", "agent a tool t"]
    assert inbox.pause_rows(pauses[:1])[0]["agent"] == "(all)"


# -- the policy in words (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize(("when", "words"), [
    ("amount > 200", "the argument amount is above 200"),
    ("confidence < 0.8 and order.total >= 1e3", "the agent's confidence is below 0.8 and the argument order.total "
                                               "is at least 1000"),
    ('currency == "USD" and vip != true', "the argument currency is “USD” and the argument vip is not true"),
    ("tool <= 2", "the tool is at most 2"),
    ("amount >> 3", "amount >> 3"),  # not a condition: given as written
])
def test_conditions_in_words(when, words):
    assert rules.condition_words(when) == words


def test_rules_tools_limits_and_summary_of_a_policy():
    doc = dict(cu.POLICY)
    assert rules.rule_words(doc["escalations"][0]) == (
        "When the agent calls issue_refund and the argument amount is above 200, the call waits for a person's "
        "approval — tier 3.")
    assert rules.rule_words({"tier": 2}) == "When the agent calls any tool, the call goes ahead and a person is " \
                                             "notified — tier 2."
    tools = {r["tool"]: r for r in rules.tool_rows(doc)}
    assert tools["delete_account"]["may call"] == "no — denied"
    assert tools["issue_refund"]["each call"].startswith("goes ahead and a person is notified")
    assert tools["issue_refund"]["escalation rules that can apply"] == "2"
    assert tools["any other tool"]["may call"] == "no — only the allowed tools"
    open_tools = {r["tool"]: r for r in rules.tool_rows({"agent": "x", "tools": {"denied": ["rm"]}})}
    assert open_tools["any other tool"]["may call"] == "yes, except the denied ones"
    assert rules.limit_rows(doc) == [{"limit": "cost per run", "at most": "$1.00", "setting": "max_cost_usd"},
                                     {"limit": "LLM calls per run", "at most": "10", "setting": "max_llm_calls"}]
    short = rules.in_short(doc)
    assert "Never calls (denied): delete_account." in short
    assert "If Flightlog cannot be reached, the agent refuses work (fail-closed)." in short
    summary = {r["field"]: r["value"] for r in rules.summary_rows(
        {"agent": "refund-bot", "agent_version": "", "version": 4, "changed_by": "Ada", "changed_at": _at(0),
         "sha256": "ab", "policy": doc})}
    assert summary["applies to"] == "every version of the agent" and summary["policy version"] == "v4"
    assert summary["if Flightlog cannot be reached"].startswith("fail-closed")


def test_history_says_what_each_version_changed():
    v1 = {"id": "a", "version": 1, "policy": {"agent": "a", "on_unreachable": "open"}}
    v2 = {"id": "a", "version": 2, "policy": {"agent": "a", "on_unreachable": "closed"}}
    other = {"id": "a@2", "version": 3, "policy": {"agent": "a", "agent_version": "2", "on_unreachable": "open"}}
    rows = rules.history_rows([other, v2, v1])
    assert [r["what changed"] for r in rows] == ["first version", "on_unreachable", "first version"]


# -- the client's control calls --------------------------------------------------------------------


def _client(handler) -> ApiClient:
    return ApiClient("http://collector.test", "read-key", transport=httpx.MockTransport(handler))


def test_decide_and_pause_send_the_persons_key_never_the_clients():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "x", "status": "approved"})

    api = _client(handler)
    api.decide("x", "approve", "fine", api_key="dana-key", arguments={"amount": 1})
    api.decide("x", "reject", "no", api_key="dana-key")
    api.pause(reason="stop", api_key="ada-key", agent="a", agent_version="1")
    api.approvals(status="pending")
    assert [r.headers["authorization"] for r in seen] == ["Bearer dana-key", "Bearer dana-key", "Bearer ada-key",
                                                          "Bearer read-key"]
    assert json.loads(seen[0].content) == {"decision": "approve", "reason": "fine", "arguments": {"amount": 1}}
    assert json.loads(seen[1].content) == {"decision": "reject", "reason": "no"}
    assert json.loads(seen[2].content) == {"agent": "a", "agent_version": "1", "tool": "", "reason": "stop"}
    assert seen[3].url.params["status"] == "pending"
    with pytest.raises(ValueError, match="own key"):
        api.decide("x", "approve", "fine", api_key="")
    with pytest.raises(ValueError, match="own key"):
        api.resume(reason="go", api_key="")
    with pytest.raises(ValueError, match="reason"):
        api.decide("x", "approve", "  ", api_key="k")
    assert len(seen) == 4, "nothing was sent without a person's key or a reason"


def test_control_calls_turn_refusals_into_api_errors():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error": "deciding approvals needs an admin key or a key with the approve "
                                                  "permission"})

    with pytest.raises(ApiError) as info:
        _client(handler).decide("x", "approve", "ok", api_key="eve")
    assert info.value.status_code == 403 and "approve permission" in info.value.message


# -- pages, against a real collector ---------------------------------------------------------------


@pytest.fixture(scope="module")
def control_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("ui-control"))
    running.extra["run"] = cu.send_run(running.url, running.ingest_key)
    running.wait_for_trace(running.extra["run"].trace_id, 4)
    running.extra["policy"] = cu.put_policy(running.url, running.admin_key, cu.POLICY)
    running.extra["dana"] = cu.new_key(running.url, running.admin_key, "engineer", "Dana Reviewer", ["approve"])
    yield running
    running.stop()


@pytest.fixture
def env(control_collector, monkeypatch) -> RunningCollector:
    monkeypatch.setenv("FLIGHTLOG_API_URL", control_collector.url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", control_collector.read_key)
    return control_collector


def _open(page: str, **query_params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(query_params)
    return at.run()


def _texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def _sign_in(at: AppTest, key: str) -> AppTest:
    at.text_input(key="flightlog.sign_in.key").input(key)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


def _propose(collector: RunningCollector, arguments: Any, **extra: Any) -> dict[str, Any]:
    return cu.propose(collector.url, collector.ingest_key, collector.extra["run"], arguments,
                      policy_version=collector.extra["policy"]["version"], **extra)


def test_the_inbox_marks_soon_expiring_approvals_and_selects_by_id(env):
    soon = _propose(env, {"amount": 1}, timeout_s=120)
    later = _propose(env, {"amount": 2})
    at = _open("views/approvals.py")
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    notes = dict(zip(table["id"], table["note"]))
    assert "expires soon" in notes[soon["id"]] and "expires soon" not in notes[later["id"]]
    assert at.query_params["id"] == soon["id"], "without an id the soonest deadline is selected"
    at = _open("views/approvals.py", id=later["id"])
    assert at.query_params["id"] == later["id"]
    assert "2.3.0" in _texts(at.text) and "issue_refund" in _texts(at.text)
    json_args = [e for e in at.get("json") if json.loads(e.proto.body) == {"amount": 2}]
    assert json_args, "the arguments are shown as JSON data"


def test_without_a_key_the_decision_is_disabled_and_says_why(env):
    approval = _propose(env, {"amount": 3})
    at = _open("views/approvals.py", id=approval["id"])
    buttons = {b.label: b for b in at.button if b.label in ("Approve", "Reject", "Approve with these arguments")}
    assert len(buttons) == 3 and all(b.disabled for b in buttons.values())
    assert any("approve permission" in i for i in _texts(at.info))


def test_signing_in_keeps_the_key_out_of_the_url_and_names_the_person(env):
    at = _open("views/approvals.py")
    at = _sign_in(at, "fl_engineer_not-a-real-key")
    assert any("refused" in e for e in _texts(at.error))
    at = _sign_in(at, env.extra["dana"])
    assert not at.exception
    assert "Signed in as Dana Reviewer (engineer, approve)" in _texts(at.text)
    assert env.extra["dana"] not in str(dict(at.query_params))
    assert not [t for t in at.text_input if t.key == "flightlog.sign_in.key"], "signed in: no key box"
    assert env.extra["dana"] not in repr(at.session_state["flightlog.person"])
    next(b for b in at.button if b.label == "Sign out").click()
    at.run()
    assert not any(t.startswith("Signed in as") for t in _texts(at.text))


def test_an_invalid_edit_decides_nothing_and_a_valid_one_is_stored(env):
    approval = _propose(env, {"amount": 4950})
    at = _sign_in(_open("views/approvals.py", id=approval["id"]), env.extra["dana"])
    at.text_area(key=f"approvals.reason.{approval['id']}").input("cents, not dollars")
    at.text_area(key=f"approvals.edit.{approval['id']}").input("{not json")
    next(b for b in at.button if b.label == "Approve with these arguments").click()
    at.run()
    assert any("not valid JSON" in e for e in _texts(at.error))
    assert cu.approval(env.url, env.read_key, approval["id"])["status"] == "pending"
    at.text_area(key=f"approvals.edit.{approval['id']}").input('{"amount": 49.5}')
    next(b for b in at.button if b.label == "Approve with these arguments").click()
    at.run()
    assert not at.exception
    stored = cu.approval(env.url, env.read_key, approval["id"])
    assert stored["status"] == "approved" and stored["edited_arguments"] == {"amount": 49.5}
    assert stored["approver"] == "Dana Reviewer"


def test_an_unknown_id_is_reported(env):
    at = _open("views/approvals.py", id="0" * 20)
    assert not at.exception
    assert any("No approval with this id" in w for w in _texts(at.warning))


def test_the_history_lists_decided_approvals(env):
    approval = _propose(env, {"amount": 5})
    resp = httpx.post(f"{env.url}/api/approvals/{approval['id']}/decide", headers=cu.auth(env.extra["dana"]),
                      json={"decision": "reject", "reason": "not this one"}, timeout=30)
    assert resp.status_code == 200, resp.text
    at = _open("views/approvals.py")
    history = at.dataframe[-1].value
    row = history[history["id"] == approval["id"]].iloc[0]
    assert (row["status"], row["approver"], row["reason"], row["used by the agent"]) == (
        "rejected", "Dana Reviewer", "not this one", "no")


def test_the_policies_page_shows_the_rules(env):
    cu.put_policy(env.url, env.admin_key, {**cu.POLICY, "limits": {"max_cost_usd": 2.0}})
    at = _open("views/policies.py", agent=cu.AGENT)
    assert not at.exception, at.exception
    text = "\n".join(_texts(at.text))
    assert "Never calls (denied): delete_account." in text
    assert "When the agent calls issue_refund and the argument amount is above 200" in text
    tools = next(d.value for d in at.dataframe if "may call" in d.value.columns)
    assert dict(zip(tools["tool"], tools["may call"]))["delete_account"] == "no — denied"
    history = next(d.value for d in at.dataframe if "what changed" in d.value.columns)
    assert list(history["what changed"])[:2] == ["limits", "first version"]
    assert at.query_params == {"agent": cu.AGENT}


def test_the_control_page_lists_pauses_and_needs_an_admin(env):
    httpx.post(f"{env.url}/api/control/pause", headers=cu.auth(env.admin_key), timeout=30,
               json={"agent": cu.AGENT, "tool": "issue_refund", "reason": "<b>refunds</b> broken"})
    try:
        at = _open("views/control.py", agent=cu.AGENT)
        assert not at.exception, at.exception
        pauses = at.dataframe[0].value
        assert list(pauses["reason"]) == ["<b>refunds</b> broken"]
        assert any("need an admin key" in i for i in _texts(at.info))
        assert all(b.disabled for b in at.button if b.label in ("Pause", "Resume"))
        assert not any("<b>refunds</b>" in m for m in _texts(at.markdown))
    finally:
        httpx.post(f"{env.url}/api/control/resume", headers=cu.auth(env.admin_key), timeout=30,
                   json={"agent": cu.AGENT, "tool": "issue_refund", "reason": "cleanup"})


def test_the_trace_page_shows_a_pause_but_its_forms_only_to_an_admin(env):
    """A paused agent's trace says so to everyone; the pause and resume forms are there for an
    admin only, not greyed out above the trace for everyone else."""
    trace_id = env.extra["run"].trace_id
    httpx.post(f"{env.url}/api/control/pause", headers=cu.auth(env.admin_key), timeout=30,
               json={"agent": cu.AGENT, "reason": "refunds 100x too large"})
    try:
        at = _open("views/trace.py", trace_id=trace_id)
        assert not at.exception, at.exception
        assert any("Paused: agent" in t and "refunds 100x too large" in t for t in _texts(at.text)), _texts(at.text)
        assert any("need an admin key" in i for i in _texts(at.info))
        assert not [b.label for b in at.button if b.label in ("Pause", "Resume")]
        at = _sign_in(at, env.admin_key)
        assert not at.exception, at.exception
        buttons = {b.label: b for b in at.button if b.label in ("Pause", "Resume")}
        assert set(buttons) == {"Pause", "Resume"} and not any(b.disabled for b in buttons.values())
    finally:
        httpx.post(f"{env.url}/api/control/resume", headers=cu.auth(env.admin_key), timeout=30,
                   json={"agent": cu.AGENT, "reason": "cleanup"})


def test_nothing_from_an_approval_is_markdown(env):
    approval = _propose(env, {"note": "**strong** <b>x</b>"}, action="*wants* <i>to</i> [link](http://x)")
    at = _open("views/approvals.py", id=approval["id"])
    assert "*wants* <i>to</i> [link](http://x)" in _texts(at.code)
    for markdown in _texts(at.markdown) + _texts(at.caption) + _texts(at.subheader) + _texts(at.info):
        assert "<i>to</i>" not in markdown and "**strong**" not in markdown
