"""The built-in evaluators (flightlog.evaluators), table-tested: each case is what a user writes
on the command line (``NAME[:ARGUMENT]``), the item and output it scores, and the verdict.
The LLM judge is tested against a small OpenAI-compatible server on a loopback port."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from flightlog import evaluators as ev
from flightlog.evaluators import EvalCase, EvalResult, ToolCallRecord

REFUND = [ToolCallRecord("lookup_order", {"order_id": "A1"}, {"price": 49.5}),
          ToolCallRecord("issue_refund", {"order_id": "A1", "amount": 49.5, "currency": "EUR"}, {"ok": True})]


def case(output: Any, expected: Any = ev._MISSING, **kw: Any) -> EvalCase:
    has = expected is not ev._MISSING
    return EvalCase(input=kw.pop("input", "q"), output=output, expected=expected if has else None, has_expected=has,
                    **kw)


CASES = [
    # spec, case, expected score (None: skipped), label
    ("exact", case("49.50", "49.50"), 1.0, "pass"),
    ("exact", case({"amount": 4950}, {"amount": 49.5}), 0.0, "fail"),
    ("exact", case("49.5", 49.5), 1.0, "pass"),  # JSON text compares as its value
    ("exact", case("anything"), None, "skipped"),  # no expected output
    ("contains", case("Refunded 49.50 EUR", "49.50"), 1.0, "pass"),
    ("contains:4950", case("Refunded 49.50 EUR"), 0.0, "fail"),
    ('contains:{"text": "REFUNDED", "ignore_case": true}', case("refunded"), 1.0, "pass"),
    (r"regex:^\d+\.\d{2}$", case("49.50"), 1.0, "pass"),
    (r"regex:^\d+\.\d{2}$", case("4950"), 0.0, "fail"),
    ("json_valid", case('{"amount": 49.5}'), 1.0, "pass"),
    ("json_valid", case({"amount": 49.5}), 1.0, "pass"),
    ("json_valid", case("amount: 49.5"), 0.0, "fail"),
    ('json_schema:{"schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number",'
     ' "maximum": 1000}}}}', case({"amount": 49.5}), 1.0, "pass"),
    ('json_schema:{"schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number",'
     ' "maximum": 1000}}}}', case('{"amount": 4950}'), 0.0, "fail"),
    ("field_equals:amount", case({"amount": 49.5, "currency": "EUR"}, {"amount": 49.5}), 1.0, "pass"),
    ("field_equals:amount", case({"amount": 4950}, {"amount": 49.5}), 0.0, "fail"),
    ("field_equals:refund.amount", case('{"refund": {"amount": 49.5}}', 49.5), 1.0, "pass"),  # expected is the value
    ('field_equals:{"path": "currency", "value": "EUR"}', case({"currency": "USD"}), 0.0, "fail"),
    ("field_equals:amount", case({"total": 1}, {"amount": 1}), 0.0, "fail"),  # the output lacks the field
    ('numeric_within:{"path": "amount", "tolerance": 0.01}', case({"amount": 49.505}, {"amount": 49.5}), 1.0, "pass"),
    ('numeric_within:{"path": "amount", "tolerance": 0.01}', case({"amount": 4950}, {"amount": 49.5}), 0.0, "fail"),
    ('numeric_within:{"tolerance": 0.1, "relative": true}', case("105", 100), 1.0, "pass"),
    ('numeric_within:{"target": 49.5}', case("forty-nine"), 0.0, "fail"),
    ("tool_called:issue_refund", case("ok", tool_calls=REFUND), 1.0, "pass"),
    ("tool_called:cancel_order", case("ok", tool_calls=REFUND), 0.0, "fail"),
    ('tool_called:{"tool": "issue_refund", "arguments": {"amount": 49.5}}', case("ok", tool_calls=REFUND), 1.0, "pass"),
    ('tool_called:{"tool": "issue_refund", "arguments": {"amount": 4950}}', case("ok", tool_calls=REFUND), 0.0, "fail"),
    ('tool_called:{"tool": "issue_refund", "arguments": {"amount": 49.5, "currency": "USD"}}',
     case("ok", tool_calls=REFUND), 0.0, "fail"),
    ("tool_not_called:issue_refund", case("ok", tool_calls=REFUND), 0.0, "fail"),
    ("tool_not_called:cancel_order", case("ok", tool_calls=REFUND), 1.0, "pass"),
    ("max_cost:0.01", case("ok", cost_usd=0.004), 1.0, "pass"),
    ("max_cost:0.01", case("ok", cost_usd=0.02), 0.0, "fail"),
    ("max_cost:0.01", case("ok"), None, "skipped"),  # the run recorded no cost
    ("max_latency:1.5", case("ok", latency_s=0.2), 1.0, "pass"),
    ("max_latency:1.5", case("ok", latency_s=2.0), 0.0, "fail"),
    ("max_tokens:100", case("ok", tokens=120), 0.0, "fail"),
    ("max_tokens:100", case("ok", tokens=80), 1.0, "pass"),
]


@pytest.mark.parametrize(("spec", "item", "score", "label"), CASES, ids=[f"{n}-{c[0][:40]}" for n, c in enumerate(CASES)])
def test_builtin_evaluators(spec: str, item: EvalCase, score: float | None, label: str) -> None:
    result = ev.parse(spec)(item)
    assert (result.score, result.label) == (score, label), result
    assert result.name == spec.partition(":")[0]
    if label == "fail":
        assert result.explanation  # a failure says why


def test_a_failure_explains_what_differs() -> None:
    result = ev.parse("field_equals:amount")(case({"amount": 4950}, {"amount": 49.5}))
    assert "49.5" in result.explanation and "4950" in result.explanation
    tool = ev.parse('tool_called:{"tool": "issue_refund", "arguments": {"amount": 49.5}}')(
        case("ok", tool_calls=[ToolCallRecord("issue_refund", {"amount": 4950})]))
    assert "4950" in tool.explanation


def test_results_can_be_renamed_and_custom_callables_return_any_shape() -> None:
    assert ev.parse('field_equals:{"path": "amount", "name": "amount_ok"}')(case({"amount": 1}, {"amount": 1})).name \
        == "amount_ok"
    shapes = {lambda c: True: (1.0, "pass"), lambda c: 0.25: (0.25, ""), lambda c: None: (None, "skipped"),
              lambda c: {"score": 0.5, "label": "meh", "explanation": "half"}: (0.5, "meh"),
              lambda c: EvalResult("x", 0.0, "fail", "no"): (0.0, "fail")}
    for fn, (score, label) in shapes.items():
        result = ev.evaluator(fn, "mine")(case("out"))
        assert (result.score, result.label) == (score, label)


def test_an_evaluator_that_raises_is_an_error_result_not_a_crash() -> None:
    def broken(c: EvalCase) -> float:
        raise KeyError("amount")

    result = ev.evaluator(broken)(case("out"))
    assert (result.name, result.score, result.label) == ("broken", None, "error")
    assert "KeyError" in result.explanation
    nan = ev.evaluator(lambda c: float("nan"), "nan")(case("out"))
    assert nan.label == "error" and nan.score is None


def test_module_function_specs_load_the_users_callable() -> None:
    loaded = ev.parse("support.eval_tasks:amount_is_a_price")
    assert loaded.name == "amount_is_a_price"
    assert loaded(case({"amount": 49.5})).score == 1.0
    assert loaded(case({"amount": 4950})).score == 0.0


@pytest.mark.parametrize(("spec", "message"), [
    ("no_such_evaluator", "unknown evaluator"),
    ("max_cost:cheap", "takes a number"),
    ("field_equals:{oops", "not JSON"),
    ('regex:{"pattern": "x", "colour": 1}', "colour"),
    ("support.eval_tasks:no_such_function", "cannot import"),
])
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ev.parse(spec)


# -- LLM as judge -------------------------------------------------------------------------------------
class _FakeOpenAI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: a judgement — pass when the graded answer says 49.50."""

    seen: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.headers.get("Authorization", ""), body))
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        prompt = body["messages"][-1]["content"]
        answer = prompt.rsplit("Answer:", 1)[1]
        good = "49.50" in answer
        content = ("Sure. " + json.dumps({"score": 1 if good else 0.1, "label": "pass" if good else "fail",
                                          "explanation": "amount matches" if good else "amount is in cents"}))
        data = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_openai() -> Any:
    handler = type("Handler", (_FakeOpenAI,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", handler.seen
    server.shutdown()
    server.server_close()


def test_llm_judge_at_an_openai_compatible_endpoint(fake_openai: Any) -> None:
    base_url, seen = fake_openai
    judge = ev.parse(json.dumps({"criteria": "the refund amount is the order line price", "model": "judge-model",
                                 "base_url": base_url, "api_key": "sk-test"}).join(["judge:", ""]))
    good = judge(case("Refunded 49.50 EUR", input="refund order A1"))
    bad = judge(case("Refunded 4950 EUR", input="refund order A1"))
    assert (good.name, good.score, good.label, good.explanation) == ("judge", 1.0, "pass", "amount matches")
    assert (bad.score, bad.label) == (0.1, "fail")
    auth, body = seen[0]
    assert auth == "Bearer sk-test" and body["model"] == "judge-model" and body["temperature"] == 0
    assert "the refund amount is the order line price" in body["messages"][0]["content"]


def test_llm_judge_endpoint_errors_are_error_results(fake_openai: Any) -> None:
    base_url, _ = fake_openai
    judge = ev.llm_judge("x", base_url=base_url.removesuffix("/v1") + "/nowhere", api_key="k")
    result = judge(case("out"))
    assert result.label == "error" and "HTTP 404" in result.explanation


def test_llm_judge_through_a_user_callable() -> None:
    prompts: list[str] = []

    def complete(prompt: str) -> str:
        prompts.append(prompt)
        return "I would give it 0.75 out of 1"

    result = ev.llm_judge("polite", complete=complete, name="politeness")(case("Thanks!", "Thank you"))
    assert (result.name, result.score, result.label) == ("politeness", 0.75, "pass")
    assert "Thanks!" in prompts[0] and "Thank you" in prompts[0] and "polite" in prompts[0]


@pytest.mark.parametrize(("reply", "score", "label"), [
    ('{"score": 0.2, "explanation": "wrong"}', 0.2, "fail"),
    ('```json\n{"score": 1, "label": "pass"}\n```', 1.0, "pass"),
    ("no idea", None, "error"),
    ('{"score": "high"}', None, "error"),
])
def test_judge_replies_are_parsed(reply: str, score: float | None, label: str) -> None:
    result = ev.parse_judgement("j", reply)
    assert (result.score, result.label) == (score, label)


@pytest.mark.parametrize(("spec", "message"), [
    ("regex:(", "evaluator regex"),
    ('json_schema:{"schema": {"type": 12}}', "evaluator json_schema"),
    ('json_valid:{"strict": true}', "evaluator json_valid"),
])
def test_parameters_that_do_not_compile_are_value_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ev.parse(spec)


def test_a_local_evaluation_reads_the_runs_tool_calls_without_a_collector() -> None:
    """A list of items, no collector, flightlog not initialised: the runs are still recorded
    for the evaluators (tool calls, tokens) and nothing is left initialised afterwards."""
    import flightlog
    from support import eval_tasks

    items = [{"input": {"order_id": "A1", "price": 49.5, "prompt_version": v}, "expected": {"amount": 49.5}}
             for v in ("v6", "v7")]
    report = flightlog.evaluate(items, eval_tasks.refund_bot, [
        "field_equals:amount", 'tool_called:{"tool": "issue_refund", "arguments": {"amount": 49.5}}', "max_tokens:50"],
        min_scores={"field_equals": 1.0}, progress=False, concurrency=2)
    assert report.experiment_id is None and not report.passed
    assert [[(s.name, s.score) for s in i.scores] for i in report.items] == [
        [("field_equals", 1.0), ("tool_called", 1.0), ("max_tokens", 1.0)],
        [("field_equals", 0.0), ("tool_called", 0.0), ("max_tokens", 1.0)]]
    assert "4950" in report.items[1].scores[1].explanation
    assert [g.ok for g in report.gates] == [False] and "FAIL  min-score field_equals" in report.table()
    assert flightlog.exporter_stats() == {"exported_spans": 0, "failed_spans": 0, "dropped_spans": 0}
