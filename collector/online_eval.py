"""Online evaluation (docs/evaluation.md, "Online evaluation"): score arriving agent runs.

A background job of the collector, every ``online_eval_interval`` seconds (``flightlog serve
--online-eval-interval``, ``FLIGHTLOG_ONLINE_EVAL_INTERVAL``; 2 by default, 0 turns it off).
Collectors sharing a ClickHouse server take the ``online-eval`` store lease for a pass: the one
holding it runs the pass, the others skip theirs (docs/decisions/0042-online-evaluation-under-a-lease.md).
A pass:

- for each evaluator rule (an agent, a built-in evaluator, a sampling rate), the runs of that
  agent stored since the last pass are sampled — a run is in the sample when a hash of the rule
  and the trace id falls under the rate, so the same run is always in or out — and scored with
  the rule's evaluator on what the run recorded (input, output, tool calls, latency, cost,
  tokens); scores go to ``evaluation_scores`` (source ``online``, the rule's id as item);
- judge rules (an LLM grades) are only marked ``pending`` for the ``flightlog evaluate
  --online`` worker, which takes them from ``GET /api/evaluation/pending`` and posts scores;
- ``gen_ai.evaluation.result`` span events and log records sent by other tools become scores
  too (source ``ingest``), with the name, score, label and explanation they carry.

Only built-in evaluators run here: the collector never imports user code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from flightlog import semconv as sc
from flightlog.evaluators import EvalCase, ToolCallRecord, parse
from flightlog.storage import StorageError, Store
from flightlog.storage import evaluation as db
from flightlog.storage.leases import Lease
from flightlog.storage.queries import get_trace

log = logging.getLogger(__name__)

INTERVAL_S = 2.0
#: How far back the first pass after a start looks (runs that arrived while it was down).
FIRST_LOOKBACK = timedelta(minutes=10)
#: A run is scored once it has been stored this long (its later spans have arrived too).
SETTLE = timedelta(seconds=1)
#: Each pass looks this far behind the previous one: the ingest time is taken when a span is
#: received, and it reaches the store after its spool segment (seconds later under load).
OVERLAP = timedelta(minutes=2)
JUDGE = "judge"


def sampled(rule_id: str, trace_id: str, rate: float) -> bool:
    """Whether the run of ``trace_id`` is in the rule's sample (stable: the same answer every time)."""
    if rate >= 1.0:
        return True
    digest = hashlib.sha256(f"{rule_id}:{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def rule_kind(spec: str) -> str:
    """``judge`` for an LLM judge, ``rule`` for a cheap built-in; ValueError for anything else."""
    from flightlog.evaluators import BUILTINS

    head = spec.partition(":")[0].strip()
    if head not in BUILTINS:
        raise ValueError(f"online rules take a built-in evaluator ({', '.join(sorted(BUILTINS))}), got {spec!r}")
    parse(spec)  # its arguments are checked now, not at the first run
    return JUDGE if head == JUDGE else "rule"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def case_of(trace: dict[str, Any], run: dict[str, Any]) -> EvalCase:
    """What a rule sees of a stored run: its input and output, the trace's tool calls, timing and usage."""
    spans = trace["spans"]
    tools = [ToolCallRecord(s["tool_name"], _json(s["tool_args"]), _json(s["tool_result"]))
             for s in spans if s["span_type"] == "tool"]
    tokens = int(trace["input_tokens"]) + int(trace["output_tokens"])
    return EvalCase(input=_json(run["InputText"]), output=_json(run["OutputText"]), tool_calls=tools,
                    latency_s=int(run["Duration"]) / 1e9, cost_usd=float(trace["total_cost_usd"]) or None,
                    tokens=tokens or None)


def _score_row(project: str, source: str, rule_id: str, run: dict[str, Any], name: str, score: float | None,
               label: str, explanation: str) -> dict[str, Any]:
    return {"Project": project, "Source": source, "ExperimentId": "", "ItemId": rule_id, "TraceId": run["TraceId"],
            "SpanId": run["SpanId"], "Evaluator": name, "Score": score, "Label": label,
            "Explanation": explanation[:10_000], "AgentName": run["AgentName"], "AgentVersion": run["AgentVersion"],
            "PromptVersion": run["PromptVersion"], "Model": run["RequestModel"]}


class OnlineEvaluator:
    """The background job (see the module docstring); ``run_once`` is one pass."""

    def __init__(self, store: Store, *, interval_s: float = INTERVAL_S, lease: Lease | None = None,
                 on_pass: Callable[[bool], None] = lambda ran: None) -> None:
        self.store = store
        self.interval_s = interval_s
        self._lease = lease  # None: alone on the store (embedded), every pass is this collector's
        self._on_pass = on_pass  # told after each turn: True when this collector ran the pass
        self._since: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval_s <= 0:
            log.info("online evaluation is off (online_eval_interval 0)")
            return
        self._thread = threading.Thread(target=self._loop, name="flightlog-online-eval", daemon=True)
        self._thread.start()

    def turn(self) -> int | None:
        """One pass if this collector holds the lease now (None when another one does)."""
        if self._lease is None:
            return self.run_once()
        with self._lease.try_hold() as held:
            if held is None:
                return None
            return self.run_once()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._on_pass(self.turn() is not None)
            # the store is down, or the pass outlived its lease (LeaseLost): the next pass covers the same window
            except StorageError as exc:
                log.warning("online evaluation pass skipped: %s", exc)
            except Exception:  # noqa: BLE001 - one bad pass must not end the job
                log.exception("online evaluation pass failed")

    def run_once(self, now: datetime | None = None) -> int:
        """Score what arrived since the last pass (up to a second ago); returns the scores written."""
        until = (now or datetime.now(timezone.utc)) - SETTLE
        since = self._since - OVERLAP if self._since else until - FIRST_LOOKBACK
        if until <= since:
            return 0
        written = self._rules(since, until) + self._events(since, until)
        self._since = until
        return written

    def _rules(self, since: datetime, until: datetime) -> int:
        by_project: dict[str, list[dict[str, Any]]] = {}
        for rule in db.rules(self.store):
            by_project.setdefault(rule["Project"], []).append(rule)
        written = 0
        for project, rules in by_project.items():
            runs = db.arrived_runs(self.store, project, sorted({r["AgentName"] for r in rules}), since, until)
            done = db.online_scored(self.store, project, sorted({r["TraceId"] for r in runs}))
            rows: list[dict[str, Any]] = []
            traces: dict[str, dict[str, Any] | None] = {}
            for run in runs:
                for rule in rules:
                    if rule["AgentName"] != run["AgentName"] or not sampled(rule["RuleId"], run["TraceId"],
                                                                             rule["SampleRate"]):
                        continue
                    if (rule["RuleId"], run["TraceId"], run["SpanId"]) in done:
                        continue  # scored (or marked for the judge) by an earlier pass
                    if rule["Kind"] == JUDGE:
                        rows.append(_score_row(project, "online", rule["RuleId"], run, rule["Name"], None,
                                               "pending", ""))
                        continue
                    if run["TraceId"] not in traces:
                        traces[run["TraceId"]] = get_trace(self.store, project, run["TraceId"])
                    trace = traces[run["TraceId"]]
                    if trace is None:
                        continue
                    result = parse(rule["Evaluator"])(case_of(trace, run))
                    rows.append(_score_row(project, "online", rule["RuleId"], run, rule["Name"], result.score,
                                           result.label, result.explanation))
            self._check()
            db.add_scores(self.store, rows)
            written += len(rows)
        return written

    def _check(self) -> None:
        """Before a write: raise LeaseLost if the turn ran too long (the next pass redoes the window)."""
        if self._lease is not None:
            self._lease.check()

    def _events(self, since: datetime, until: datetime) -> int:
        rows = []  # (a span seen again by an overlapping pass gives the same rows: read once per key)
        for span in db.evaluation_events(self.store, sc.EVENT_EVALUATION_RESULT, since, until):
            for name, attributes in zip(span["EventNames"], span["EventAttributes"], strict=False):
                if name != sc.EVENT_EVALUATION_RESULT:
                    continue
                score = _number(attributes.get(sc.EVALUATION_SCORE, ""))
                rows.append(_score_row(span["Project"], "ingest", "", span,
                                       attributes.get(sc.EVALUATION_NAME) or "evaluation", score,
                                       attributes.get(sc.EVALUATION_LABEL, ""),
                                       attributes.get(sc.EVALUATION_EXPLANATION, "")))
        for record in db.evaluation_log_records(self.store, sc.EVENT_EVALUATION_RESULT, since, until):
            attributes = record["Attributes"]
            rows.append(_score_row(record["Project"], "ingest", "", record,
                                   attributes.get(sc.EVALUATION_NAME) or "evaluation",
                                   _number(attributes.get(sc.EVALUATION_SCORE, "")),
                                   attributes.get(sc.EVALUATION_LABEL, ""),
                                   attributes.get(sc.EVALUATION_EXPLANATION, "")))
        self._check()
        db.add_scores(self.store, rows)
        return len(rows)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None
