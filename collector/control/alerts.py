"""Alerts: rules over the monitoring figures, evaluated by the collector (docs/alerts.md).

A rule watches one metric (:data:`flightlog.storage.alert_metrics.METRICS`) in a scope (the
project, an agent, an agent version, a prompt version, a model) over a sliding window, and is
breached when the value — or its relative change against the previous window or a baseline
version — is above or below a threshold, given at least ``min_samples`` samples. Every
``alert_interval_s`` the collector evaluates each rule; a change ok → firing or firing → ok is a
*transition*: recorded in the history (``alert_events``) and sent, once, to the project's
notification targets through the control loop's outbox (:mod:`.notify`), unless the rule is
silenced. With several collectors on one store, each transition is claimed in the store and
decided by one of them (docs/decisions/0025-alert-transitions-decided-once.md).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from flightlog.storage import StorageError, Store
from flightlog.storage import alert_metrics as metrics
from flightlog.storage import alerts as db
from flightlog.storage.governance import log_change
from flightlog.storage.keys import KeyRecord

from flightlog.collector.control.notify import Notifier
from flightlog.collector.errors import BadRequest, CollectorError, Forbidden, NotFound

log = logging.getLogger(__name__)

OPS = ("above", "below")
COMPARES = ("value", "previous_window", "baseline")
MIN_WINDOW = timedelta(minutes=1)
MAX_WINDOW = timedelta(days=30)
DEFAULT_BASELINE_WINDOW = "7d"
DEFAULT_MIN_SAMPLES = 10
CLAIM_FRESH_S = 60.0
RULE_FIELDS = {"name", "description", "metric", "scope", "window", "op", "threshold", "compare", "baseline",
               "baseline_window", "min_samples", "tool", "argument", "evaluator", "score_source"}
MAX_REPLAY_STEPS = 2000
MAX_RULES = 500  # per project: each is evaluated by every collector every interval
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The Monitoring page's time ranges (ui/filters.py TIME_RANGES), smallest first.
MONITORING_RANGES = (("15m", 900), ("1h", 3600), ("24h", 86400), ("7d", 7 * 86400), ("30d", 30 * 86400))


class Conflict(CollectorError):
    """The rule is not in a state that allows this (a replay of a rule that already fired)."""

    status = 409


def parse_duration(text: Any, what: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"7d"`` as a timedelta (ValueError naming ``what``)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{what} must be a duration like '5m', '1h' or '7d' (s, m, h, d), got {text!r}")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def validate_rule(body: Any) -> dict[str, Any]:
    """A rule document with defaults filled in; ValueError says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("a rule is a JSON object")
    unknown = sorted(set(body) - RULE_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; a rule holds {sorted(RULE_FIELDS)}")
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise ValueError("name must be a text of 1 to 200 characters")
    metric = body.get("metric")
    if metric not in metrics.METRICS:
        raise ValueError(f"metric must be one of {sorted(metrics.METRICS)}, got {metric!r}")
    scope = _scope(body.get("scope") or {}, "scope")
    options = _score_options(metric, body)
    supported = metrics.supported_scopes(metric, options)
    unsupported = sorted(set(scope) - supported)
    if unsupported:
        what = "its scores do not carry them" if metric == "mean_score" else "its spans do not carry them"
        raise ValueError(f"metric {metric} cannot be scoped by {unsupported}: {what} (it supports {sorted(supported)})")
    window = parse_duration(body.get("window"), "window")
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise ValueError(f"window must be between 1m and 30d, got {body['window']!r}")
    op = body.get("op", "above")
    if op not in OPS:
        raise ValueError(f"op must be one of {list(OPS)}, got {op!r}")
    threshold = body.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ValueError("threshold must be a number")
    compare = body.get("compare", "value")
    if compare not in COMPARES:
        raise ValueError(f"compare must be one of {list(COMPARES)}, got {compare!r}")
    min_samples = body.get("min_samples", DEFAULT_MIN_SAMPLES)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or not 1 <= min_samples <= 1_000_000:
        raise ValueError("min_samples must be a whole number from 1 to 1000000")
    description = body.get("description") or ""
    if not isinstance(description, str) or len(description) > 2000:
        raise ValueError("description must be a text of at most 2000 characters")
    rule: dict[str, Any] = {"name": name.strip(), "description": description, "metric": metric, "scope": scope,
                            "window": body["window"], "op": op, "threshold": float(threshold), "compare": compare,
                            "min_samples": min_samples, **options}
    needs = metrics.OPTION_METRICS.get(metric, ())
    for option in ("tool", "argument"):
        value = body.get(option)
        if option in needs:
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise ValueError(f"metric {metric} needs '{option}': the tool's name and the argument (dotted "
                                 "for a nested one), e.g. \"tool\": \"issue_refund\", \"argument\": \"amount\"")
            rule[option] = value.strip()
        elif value is not None:
            raise ValueError(f"'{option}' goes with metric tool_argument_max only")
    if compare == "baseline":
        baseline = _scope(body.get("baseline") or {}, "baseline")
        if not baseline:
            raise ValueError("compare 'baseline' needs a baseline: the scope to compare with, "
                             "e.g. {\"agent_version\": \"2.2.0\"}")
        if set(baseline) - supported:
            raise ValueError(f"baseline keys must be scope keys metric {metric} supports")
        baseline_window = body.get("baseline_window", DEFAULT_BASELINE_WINDOW)
        if not MIN_WINDOW <= parse_duration(baseline_window, "baseline_window") <= MAX_WINDOW:
            raise ValueError("baseline_window must be between 1m and 30d")
        rule.update(baseline=baseline, baseline_window=baseline_window)
    elif "baseline" in body or "baseline_window" in body:
        raise ValueError("baseline and baseline_window go with compare 'baseline'")
    return rule


def _score_options(metric: str, body: dict[str, Any]) -> dict[str, str]:
    """``evaluator`` and ``score_source`` of a mean_score rule (ValueError for any other metric)."""
    given = {k: body[k] for k in metrics.OPTIONAL_OPTIONS["mean_score"] if body.get(k) is not None}
    if metric != "mean_score":
        if given:
            raise ValueError(f"{sorted(given)} go(es) with metric mean_score only")
        return {}
    for key, value in given.items():
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise ValueError(f"{key} must be a text of 1 to 200 characters")
    if "score_source" in given and "evaluator" not in given:
        raise ValueError("score_source goes with evaluator: name the evaluator whose scores to watch")
    if given.get("score_source", "online") not in metrics.EVALUATOR_SOURCES:
        raise ValueError(f"score_source must be one of {list(metrics.EVALUATOR_SOURCES)}, "
                         f"got {given['score_source']!r}")
    return {k: v.strip() for k, v in given.items()}


def _scope(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object of {sorted(metrics.SCOPE_COLUMNS)}")
    unknown = sorted(set(value) - set(metrics.SCOPE_COLUMNS))
    if unknown:
        raise ValueError(f"{what}: unknown key(s) {unknown}; known: {sorted(metrics.SCOPE_COLUMNS)}")
    out = {}
    for key, item in value.items():
        if not isinstance(item, str) or len(item) > 200:
            raise ValueError(f"{what}.{key} must be a text of at most 200 characters")
        if item:
            out[key] = item
    return out


def monitoring_link(rule: dict[str, Any]) -> str:
    """The Monitoring page's URL path for the rule's scope and window (``/monitoring?…``): the
    smallest of its ranges that covers the window, and every scope key of the rule (agent, agent
    version, prompt id, prompt version, model) as a filter of the same name."""
    seconds = parse_duration(rule["window"], "window").total_seconds()
    range_key = next((k for k, s in MONITORING_RANGES if s >= seconds), "30d")
    scope = rule["scope"]
    params = {"range": range_key, "bucket": "hour" if seconds <= 86400 else "",
              **{key: scope.get(key, "") for key in metrics.SCOPE_COLUMNS}}
    return "/monitoring?" + urlencode({k: v for k, v in params.items() if v})


@dataclass(frozen=True)
class Evaluation:
    """One look at a rule: the value, what it was compared with, and whether it is breached
    (None: too few samples to say)."""

    at: datetime
    window_start: datetime
    window_end: datetime
    value: float | None
    reference: float | None
    samples: int
    breached: bool | None


def relative_change(value: float, reference: float) -> float:
    """(value − reference) / reference; from a reference of 0 any rise is +∞."""
    if reference == 0:
        return 0.0 if value == 0 else math.copysign(math.inf, value)
    return (value - reference) / abs(reference)


def evaluate(store: Store, project: str, rule: dict[str, Any], now: datetime) -> Evaluation:
    """The rule over the window ending ``now``."""
    window = parse_duration(rule["window"], "window")
    start = now - window
    options: dict[str, Any] = {k: rule[k] for k in ("tool", "argument", "evaluator", "score_source") if k in rule}
    current = metrics.measure(store, project, rule["metric"], rule["scope"], start, now, options)
    reference: metrics.Measure | None = None
    if rule["compare"] == "previous_window":
        reference = metrics.measure(store, project, rule["metric"], rule["scope"], start - window, start, options)
    elif rule["compare"] == "baseline":
        lookback = parse_duration(rule["baseline_window"], "baseline_window")
        reference = metrics.measure(store, project, rule["metric"], {**rule["scope"], **rule["baseline"]},
                                    now - lookback, now, options)
    enough = current.value is not None and current.samples >= rule["min_samples"] and (
        reference is None or (reference.value is not None and reference.samples >= rule["min_samples"]))
    breached: bool | None = None
    if enough:
        assert current.value is not None
        observed = current.value if reference is None or reference.value is None \
            else relative_change(current.value, reference.value)
        breached = observed > rule["threshold"] if rule["op"] == "above" else observed < rule["threshold"]
    return Evaluation(now, start, now, current.value, None if reference is None else reference.value,
                      current.samples, breached)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def may_manage(key: KeyRecord) -> None:
    """Rules and silences are changed by admins or named keys with the ``alerts`` permission."""
    if not (key.role == "admin" or "alerts" in key.permissions):
        raise Forbidden("changing alert rules and silences needs an admin key or a key with the alerts permission")


class AlertService:
    """Rules (create, delete, silence), their history, and the evaluation loop."""

    def __init__(self, store: Store, notifier: Notifier, *, interval_s: float, instance: str = "") -> None:
        self.store = store
        self.notifier = notifier
        self.interval_s = float(interval_s)
        self.instance = instance or f"collector-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flightlog-alerts", daemon=True)

    # -- rules ------------------------------------------------------------------------------------------
    def create(self, key: KeyRecord, body: Any) -> dict[str, Any]:
        may_manage(key)
        try:
            rule = validate_rule(body)
        except ValueError as exc:
            raise BadRequest(f"invalid alert rule: {exc}") from exc
        if len(db.rules(self.store, key.project)) >= MAX_RULES:
            raise BadRequest(f"project {key.project!r} has {MAX_RULES} alert rules, the most it may have: "
                             "delete one first")
        row = db.put_rule(self.store, {"Project": key.project, "RuleId": uuid.uuid4().hex[:16],
                                       "Body": json.dumps(rule, sort_keys=True), "ChangedBy": key.display_name})
        log_change(self.store, key.project, key.key_id, "alert.rule_created", {"rule_id": row["RuleId"], **rule})
        return self.public(row, None, None)

    def delete(self, key: KeyRecord, rule_id: str) -> dict[str, Any]:
        may_manage(key)
        row = self._rule(key.project, rule_id)
        db.put_rule(self.store, {**row, "Deleted": 1, "ChangedBy": key.display_name})
        log_change(self.store, key.project, key.key_id, "alert.rule_deleted", {"rule_id": rule_id})
        return {**self.public(row, None, None), "deleted": True}

    def silence(self, key: KeyRecord, rule_id: str, *, until: datetime | None, reason: str) -> dict[str, Any]:
        """Silence until ``until`` (None: lift the silence). State is still recorded, nothing is sent."""
        may_manage(key)
        row = self._rule(key.project, rule_id)
        now = db.utc_now()
        if until is not None and until <= now:
            raise BadRequest(f"a silence must end in the future, got {until.isoformat()}")
        row = db.put_rule(self.store, {**row, "SilencedUntil": until, "SilenceReason": reason if until else "",
                                       "SilencedBy": key.display_name if until else "",
                                       "ChangedBy": key.display_name})
        kind = "silenced" if until else "unsilenced"
        db.add_event(self.store, {"Project": key.project, "RuleId": rule_id, "Seq": 0, "EventId": uuid.uuid4().hex,
                                  "Kind": kind, "At": now, "Actor": key.display_name,
                                  "Reason": reason + (f" (until {until.isoformat()})" if until else ""),
                                  "Rule": row["Body"]})
        log_change(self.store, key.project, key.key_id, f"alert.{kind}",
                   {"rule_id": rule_id, "until": _iso(until), "reason": reason})
        return self.get(key.project, rule_id)

    def get(self, project: str, rule_id: str) -> dict[str, Any]:
        row = self._rule(project, rule_id)
        return self.public(row, db.latest_transition(self.store, project, rule_id),
                           db.evaluations(self.store, project).get(rule_id))

    def rules(self, project: str) -> list[dict[str, Any]]:
        """The project's rules with their state, firing ones first (then by name)."""
        last, evaluated = db.latest_transitions(self.store, project), db.evaluations(self.store, project)
        out = [self.public(r, last.get(r["RuleId"]), evaluated.get(r["RuleId"])) for r in db.rules(self.store, project)]
        return sorted(out, key=lambda r: (r["state"] != "firing", r["name"].lower(), r["id"]))

    def history(self, project: str, rule_id: str = "", limit: int = 100) -> list[dict[str, Any]]:
        return [self.public_event(e) for e in db.history(self.store, project, rule_id=rule_id, limit=limit)]

    def _rule(self, project: str, rule_id: str) -> dict[str, Any]:
        row = db.get_rule(self.store, project, rule_id)
        if row is None:
            raise NotFound(f"no alert rule {rule_id!r} in project {project!r}")
        return row

    @staticmethod
    def public(row: dict[str, Any], last: dict[str, Any] | None, evaluation: dict[str, Any] | None) -> dict[str, Any]:
        rule = json.loads(row["Body"])
        now = db.utc_now()
        until = row["SilencedUntil"]
        silenced = until is not None and until > now
        firing = last is not None and last["Kind"] == "firing"
        return {
            "id": row["RuleId"], **rule, "baseline": rule.get("baseline"),
            "baseline_window": rule.get("baseline_window"), "tool": rule.get("tool"),
            "argument": rule.get("argument"), "evaluator": rule.get("evaluator"),
            "score_source": rule.get("score_source"),
            "state": "firing" if firing else "ok", "since": _iso(last["At"]) if last else None,
            "transitions": int(last["Seq"]) if last else 0,
            "silenced": silenced,
            "silence": {"until": _iso(until), "reason": row["SilenceReason"], "by": row["SilencedBy"]} if silenced
            else None,
            "last_evaluation": None if evaluation is None else {
                "at": _iso(evaluation["At"]), "value": _finite(evaluation["Value"]),
                "reference": _finite(evaluation["Reference"]), "samples": int(evaluation["Samples"]),
                "breached": None if evaluation["Breached"] is None else bool(evaluation["Breached"])},
            "link": monitoring_link(rule), "changed_by": row["ChangedBy"], "changed_at": _iso(row["ChangedAt"]),
        }

    @staticmethod
    def public_event(row: dict[str, Any]) -> dict[str, Any]:
        rule = json.loads(row["Rule"]) if row["Rule"] else {}
        return {
            "rule_id": row["RuleId"], "event_id": row["EventId"], "seq": int(row["Seq"]), "kind": row["Kind"],
            "at": _iso(row["At"]), "name": rule.get("name", ""), "metric": rule.get("metric", ""),
            "scope": rule.get("scope", {}), "value": _finite(row["Value"]), "reference": _finite(row["Reference"]),
            "threshold": float(row["Threshold"]), "samples": int(row["Samples"]),
            "window_start": _iso(row["WindowStart"]), "window_end": _iso(row["WindowEnd"]),
            "silenced": bool(row["Silenced"]), "notified": bool(row["Notified"]), "actor": row["Actor"],
            "reason": row["Reason"], "link": row["Link"],
        }

    def replay(self, key: KeyRecord, rule_id: str, *, start: datetime, end: datetime,
               step: timedelta) -> list[dict[str, Any]]:
        """Evaluate a new rule at every ``step`` from ``start`` to ``end`` over the stored spans
        and record the transitions it would have made, at their times, as history (never sent):
        how a rule would have behaved, and a history for it from day one. Only for a rule that
        has no transitions yet."""
        may_manage(key)
        row = self._rule(key.project, rule_id)
        if step <= timedelta(0) or start >= end:
            raise BadRequest("a replay needs start < end and a positive step")
        if (end - start) / step > MAX_REPLAY_STEPS:
            raise BadRequest(f"a replay evaluates at most {MAX_REPLAY_STEPS} times: use a larger step")
        if end > db.utc_now():
            raise BadRequest("a replay ends now at the latest")
        if db.latest_transition(self.store, key.project, rule_id) is not None:
            raise Conflict(f"alert rule {rule_id} already has transitions: replay a new rule")
        made = []
        at = start
        while at <= end:
            event = self.evaluate_rule(row, at, replay_by=key.display_name)
            if event is not None:
                made.append(self.public_event(event))
            at += step
        log_change(self.store, key.project, key.key_id, "alert.replayed",
                   {"rule_id": rule_id, "start": start.isoformat(), "end": end.isoformat(), "transitions": len(made)})
        return made

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate_all(self, now: datetime | None = None) -> int:
        """Evaluate every rule of every project once; returns how many transitions this process decided."""
        decided = 0
        for row in db.rules(self.store):
            try:
                decided += self.evaluate_rule(row, now or datetime.now(timezone.utc)) is not None
            except StorageError:
                raise
            except Exception:  # one bad rule must not stop the others; logged with its traceback
                log.exception("alert rule %s of project %s could not be evaluated", row["RuleId"], row["Project"])
        return decided

    def evaluate_rule(self, row: dict[str, Any], now: datetime, *, replay_by: str = "") -> dict[str, Any] | None:
        """Evaluate one rule as of ``now``; the history row of the transition this process
        decided, if any (``replay_by``: a replay of the past, recorded and never sent)."""
        project, rule_id, rule = row["Project"], row["RuleId"], json.loads(row["Body"])
        result = evaluate(self.store, project, rule, now)
        if not replay_by:
            db.put_evaluation(self.store, project, rule_id, at=now, value=_finite(result.value),
                              reference=_finite(result.reference), samples=result.samples,
                              breached=result.breached)
        if result.breached is None:
            return None  # too few samples: the state stays as it is
        last = db.latest_transition(self.store, project, rule_id)
        firing = last is not None and last["Kind"] == "firing"
        if result.breached == firing:
            return None
        seq = (int(last["Seq"]) if last else 0) + 1
        if not self._won(project, rule_id, seq):
            return None
        kind = "firing" if result.breached else "resolved"
        silenced = row["SilencedUntil"] is not None and row["SilencedUntil"] > now
        link = monitoring_link(rule)
        reason = f"replayed by {replay_by}: not sent" if replay_by else row["SilenceReason"] if silenced else ""
        event = {"Project": project, "RuleId": rule_id, "Seq": seq, "EventId": f"{rule_id}-{seq}", "Kind": kind,
                 "At": now, "Value": _finite(result.value), "Reference": _finite(result.reference),
                 "Threshold": rule["threshold"], "Samples": result.samples, "WindowStart": result.window_start,
                 "WindowEnd": result.window_end, "Silenced": int(silenced),
                 "Notified": int(not silenced and not replay_by), "Actor": self.instance, "Reason": reason,
                 "Link": link, "Rule": row["Body"]}
        db.add_event(self.store, event)
        if not silenced and not replay_by:
            try:
                self.notifier.queue(project, f"alert.{kind}", {"alert": {
                    **self.public_event(event), "op": rule["op"], "compare": rule["compare"],
                    "window": rule["window"], "state": "firing" if kind == "firing" else "ok"}},
                    event_id=event["EventId"])
            except Exception:  # the transition is recorded; a notification problem is logged
                log.exception("could not queue the alert.%s notification of rule %s", kind, rule_id)
        log.info("alert rule %s (%s) %s: value %s, %d samples", rule_id, rule["name"], kind, result.value,
                 result.samples)
        return event

    def _won(self, project: str, rule_id: str, seq: int) -> bool:
        """Claim transition ``seq`` and tell whether this process decides it.

        A claim is an insert-if-absent in the store (:func:`flightlog.storage.alerts.claim`): of
        the collectors that claim the same round, exactly one row is kept, and its claimant
        decides. A round whose claimant recorded nothing within :data:`CLAIM_FRESH_S` (it
        stopped) is followed by the next round.
        """
        now = db.utc_now()
        earlier = db.claims(self.store, project, rule_id, seq)
        if any(c["ClaimedAt"] > now - timedelta(seconds=CLAIM_FRESH_S) for c in earlier):
            return False  # another collector is deciding it right now
        token = uuid.uuid4().hex
        if db.claim(self.store, project, rule_id, seq, len(earlier), token, self.instance) != token:
            return False
        last = db.latest_transition(self.store, project, rule_id)
        return last is None or int(last["Seq"]) < seq

    # -- the loop ---------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.evaluate_all()
            except StorageError:
                log.warning("alert evaluation skipped: the store is unavailable")
            except Exception:  # the loop must outlive one bad pass; logged with its traceback
                log.exception("alert evaluation failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(15)
