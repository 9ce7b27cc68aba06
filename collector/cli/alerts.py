"""``flightlog alerts`` (docs/alerts.md): create, list, show, delete, silence and unsilence alert
rules and read their history, over a running collector's API with ``--url URL --key KEY`` (the
key's name is recorded as who acted; changes need an admin key or a key with the ``alerts``
permission).

Registered by :mod:`.main` (``register(main)``).
"""

from __future__ import annotations

import json
from typing import Any

import click

from flightlog.collector.cli.control import _call, _options


def _scope_text(scope: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(scope.items())) or "project"


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"


def _rule_row(r: dict[str, Any]) -> str:
    last = r.get("last_evaluation") or {}
    state = r["state"].upper() + (" (silenced)" if r["silenced"] else "")
    return (f"{r['id']}  {state:18} {r['name']}  {r['metric']} {r['op']} {_number(r['threshold'])}"
            f" [{r['compare']}] over {r['window']} for {_scope_text(r['scope'])}"
            f"  now {_number(last.get('value'))} ({last.get('samples', 0)} samples)")


def _event_row(e: dict[str, Any]) -> str:
    if e["kind"] in ("silenced", "unsilenced"):
        return f"{e['at']}  {e['kind']:10} {e['name']}  by {e['actor']}: {e['reason']}"
    note = " (silenced: not sent)" if e["silenced"] else ""
    return (f"{e['at']}  {e['kind']:10} {e['name']}  {e['metric']} {_number(e['value'])}"
            f" vs {_number(e['threshold'])}, {e['samples']} samples{note}  {e['link']}")


@click.group("alerts")
def alerts() -> None:
    """Alert rules on error rate, latency, cost, tokens, escalations, tool errors and scores."""


@alerts.command("create")
@click.option("--name", required=True, help="What the rule is called (in messages and the UI).")
@click.option("--metric", required=True, type=click.Choice([
    "error_rate", "success_rate", "latency_p95_ms", "cost_per_hour", "cost_per_day", "tokens_per_run",
    "checkpoint_escalation_rate", "tool_error_rate", "mean_score", "tool_argument_max"]), help="The figure to watch.")
@click.option("--tool", default="", help="tool_argument_max: the tool whose calls are watched.")
@click.option("--argument", default="", help="tool_argument_max: the argument (dotted for a nested one).")
@click.option("--evaluator", default="", help="mean_score: the evaluator whose scores are watched (default: the "
                                              "human review scores).")
@click.option("--score-source", default="", type=click.Choice(["", "online", "ingest", "experiment"]),
              help="mean_score with --evaluator: only its scores from online rules, evaluation events or experiments.")
@click.option("--agent", default="", help="Scope: only this agent.")
@click.option("--agent-version", default="", help="Scope: only this agent version.")
@click.option("--prompt-id", default="", help="Scope: only LLM calls with this prompt.")
@click.option("--prompt-version", default="", help="Scope: only LLM calls with this prompt version.")
@click.option("--model", default="", help="Scope: only LLM calls of this model.")
@click.option("--window", default="15m", show_default=True, help="Sliding window: 5m, 1h, 7d, …")
@click.option("--above", type=float, default=None, help="Breached when the value (or change) is above this.")
@click.option("--below", type=float, default=None, help="Breached when the value (or change) is below this.")
@click.option("--compare", default="value", show_default=True,
              type=click.Choice(["value", "previous_window", "baseline"]),
              help="Compare the value itself, or its relative change (0.5 = +50%) against the previous window "
                   "or a baseline.")
@click.option("--baseline-version", default="", help="compare=baseline: the agent version to compare with.")
@click.option("--baseline-window", default="7d", show_default=True, help="compare=baseline: its window.")
@click.option("--min-samples", default=10, show_default=True, type=int, help="Fewer samples: no decision.")
@click.option("--description", default="", help="What to do when it fires.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored rule as JSON.")
@_options
def create(name: str, metric: str, tool: str, argument: str, evaluator: str, score_source: str,
           agent: str, agent_version: str, prompt_id: str,
           prompt_version: str, model: str, window: str, above: float | None, below: float | None, compare: str,
           baseline_version: str, baseline_window: str, min_samples: int, description: str, as_json: bool, url: str,
           key: str) -> None:
    """Create a rule (admin key or the alerts permission)."""
    if (above is None) == (below is None):
        raise click.UsageError("give exactly one of --above and --below")
    scope = {k: v for k, v in (("agent", agent), ("agent_version", agent_version), ("prompt_id", prompt_id),
                               ("prompt_version", prompt_version), ("model", model)) if v}
    body: dict[str, Any] = {"name": name, "metric": metric, "scope": scope, "window": window,
                            "op": "above" if above is not None else "below",
                            "threshold": above if above is not None else below, "compare": compare,
                            "min_samples": min_samples, "description": description}
    body.update({k: v for k, v in (("tool", tool), ("argument", argument), ("evaluator", evaluator),
                                   ("score_source", score_source)) if v})
    if compare == "baseline":
        if not baseline_version:
            raise click.UsageError("--compare baseline needs --baseline-version")
        body.update(baseline={"agent_version": baseline_version}, baseline_window=baseline_window)
    rule = _call(url, key, "POST", "/api/alerts/rules", body=body)
    click.echo(json.dumps(rule, indent=2) if as_json else f"alert rule {rule['id']} created: {_rule_row(rule)}")


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the rules with their state as JSON.")
@_options
def list_(as_json: bool, url: str, key: str) -> None:
    """Rules with their current state, firing first."""
    rules = _call(url, key, "GET", "/api/alerts/rules")["rules"]
    if as_json:
        click.echo(json.dumps(rules, indent=2))
        return
    for r in rules:
        click.echo(_rule_row(r))
    click.echo(f"{len(rules)} rules, {sum(r['state'] == 'firing' for r in rules)} firing", err=True)


@alerts.command("show")
@click.argument("rule_id")
@_options
def show(rule_id: str, url: str, key: str) -> None:
    """One rule with its state and last evaluation, as JSON."""
    click.echo(json.dumps(_call(url, key, "GET", f"/api/alerts/rules/{rule_id}"), indent=2))


@alerts.command("delete")
@click.argument("rule_id")
@_options
def delete(rule_id: str, url: str, key: str) -> None:
    """Delete a rule (its history stays)."""
    rule = _call(url, key, "DELETE", f"/api/alerts/rules/{rule_id}")
    click.echo(f"alert rule {rule['id']} ({rule['name']}) deleted")


@alerts.command("silence")
@click.argument("rule_id")
@click.option("--for", "duration", default="", help="How long: 30m, 2h, 1d.")
@click.option("--until", default="", help="Or until when (ISO 8601, UTC if no offset).")
@click.option("--reason", required=True, help="Why (recorded with your key's name).")
@_options
def silence(rule_id: str, duration: str, until: str, reason: str, url: str, key: str) -> None:
    """Silence a rule: transitions are still recorded, nothing is sent."""
    if bool(duration) == bool(until):
        raise click.UsageError("give exactly one of --for and --until")
    body = {"reason": reason, **({"for": duration} if duration else {"until": until})}
    rule = _call(url, key, "POST", f"/api/alerts/rules/{rule_id}/silence", body=body)
    click.echo(f"alert rule {rule['id']} silenced until {rule['silence']['until']} by {rule['silence']['by']}")


@alerts.command("unsilence")
@click.argument("rule_id")
@click.option("--reason", default="", help="Why the silence ends early.")
@_options
def unsilence(rule_id: str, reason: str, url: str, key: str) -> None:
    """Lift a rule's silence."""
    rule = _call(url, key, "POST", f"/api/alerts/rules/{rule_id}/unsilence", body={"reason": reason})
    click.echo(f"alert rule {rule['id']} is no longer silenced ({rule['state']})")


@alerts.command("replay")
@click.argument("rule_id")
@click.option("--since", required=True, help="From when (ISO 8601, UTC if no offset).")
@click.option("--until", default="", help="Until when (default: now).")
@click.option("--step", default="", help="Evaluate every this long (default: the rule's window).")
@_options
def replay(rule_id: str, since: str, until: str, step: str, url: str, key: str) -> None:
    """Evaluate a new rule over the stored past; its transitions are recorded (never sent)."""
    body = {"start": since, **({"end": until} if until else {}), **({"step": step} if step else {})}
    done = _call(url, key, "POST", f"/api/alerts/rules/{rule_id}/replay", body=body)
    for e in done["events"]:
        click.echo(_event_row(e))
    click.echo(f"{done['evaluations']} evaluations, {len(done['events'])} transitions recorded", err=True)


@alerts.command("history")
@click.option("--rule", "rule_id", default="", help="Only this rule's history.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON.")
@_options
def history(rule_id: str, limit: int, as_json: bool, url: str, key: str) -> None:
    """Transitions (firing, resolved) and silence changes, newest first."""
    events = _call(url, key, "GET", "/api/alerts/history", params={"rule_id": rule_id, "limit": limit})["events"]
    if as_json:
        click.echo(json.dumps(events, indent=2))
        return
    for e in events:
        click.echo(_event_row(e))


def register(main: click.Group) -> None:
    main.add_command(alerts)
