"""``flightlog eval run``: run a task over a dataset as an experiment and gate a CI pipeline on
the scores (docs/evaluation.md). Exit status 0 when every gate holds, 1 when one fails, 2 on a
usage error or when the experiment could not run.

Registered by :mod:`.main` (``register(main)``).
"""

from __future__ import annotations

import json
import time

import click

from flightlog.collector.cli.control import DEFAULT_URL, _call, _options


def _pairs(values: tuple[str, ...]) -> dict[str, float]:
    found = {}
    for value in values:
        name, sep, number = value.rpartition("=")
        try:
            found[name] = float(number)
        except ValueError:
            name = ""
        if not sep or not name:
            raise click.BadParameter(f"expected EVALUATOR=NUMBER, got {value!r}", param_hint="--min-score")
    return found


@click.group("eval")
def eval_() -> None:
    """Experiments: run a task over a dataset, score it, fail CI on a regression."""


@eval_.command("run")
@click.option("--dataset", required=True, help="The dataset's name.")
@click.option("--task", required=True, help="module:function called with each item's input (sync or async).")
@click.option("--evaluator", "evaluators", multiple=True,
              help="NAME, NAME:ARGUMENT (regex:^ok, tool_called:issue_refund, max_cost:0.05, "
                   "numeric_within:{\"path\": \"amount\"}) or module:function; repeatable.")
@click.option("--min-score", "min_scores", multiple=True, help="EVALUATOR=X: fail when its mean is below X; repeatable.")
@click.option("--baseline", default=None, help="last (the latest finished experiment on the dataset) or an experiment id.")
@click.option("--max-drop", type=float, default=None, help="Fail when an evaluator's mean is more than X below the baseline's.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Items run at once.")
@click.option("--name", default=None, help="The experiment's name (default: the task and the time).")
@click.option("--version", "dataset_version", type=click.IntRange(0), default=None,
              help="The dataset version (first N items; default all).")
@click.option("--ingest-key", envvar="FLIGHTLOG_INGEST_KEY", default=None,
              help="Key the runs' spans are sent with (default --key; an engineer key cannot ingest) "
                   "[env FLIGHTLOG_INGEST_KEY]")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--key", envvar="FLIGHTLOG_API_KEY", required=True,
              help="An engineer or admin key (the experiment is stored under its name) [env FLIGHTLOG_API_KEY]")
@click.option("--url", default=DEFAULT_URL, show_default=True, help="The collector's base URL.")
def run(dataset: str, task: str, evaluators: tuple[str, ...], min_scores: tuple[str, ...], baseline: str | None,
        max_drop: float | None, concurrency: int, name: str | None, dataset_version: int | None,
        ingest_key: str | None, no_progress: bool, key: str, url: str) -> None:
    """Run TASK on every item of DATASET, store the experiment, print a summary, exit 1 on a failed gate."""
    import flightlog
    from flightlog.evaluators import parse

    if max_drop is not None and not baseline:
        raise click.UsageError("--max-drop needs --baseline last|EXPERIMENT_ID")
    gates = _pairs(min_scores)
    try:
        chosen = [parse(spec) for spec in evaluators]
    except (ValueError, ImportError) as exc:
        raise click.BadParameter(str(exc), param_hint="--evaluator") from exc
    try:
        report = flightlog.evaluate(dataset, task, chosen, url=url, key=key, ingest_key=ingest_key,
                                    version=dataset_version, name=name, min_scores=gates, baseline=baseline,
                                    max_drop=max_drop, concurrency=concurrency, progress=not no_progress)
    except flightlog.EvaluationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(report.table())
    if report.spans_not_delivered:
        click.echo(f"warning: {report.spans_not_delivered} spans of the runs were not delivered to {url}"
                   " (is --ingest-key an ingest or admin key?)", err=True)
    if not report.passed:
        click.echo("FAILED: " + "; ".join(f"{g.kind} {g.evaluator}" for g in report.gates if not g.ok), err=True)
        raise SystemExit(1)


@eval_.group("rules")
def rules() -> None:
    """Online evaluation: evaluator rules that score a share of an agent's arriving runs."""


@rules.command("add")
@click.option("--agent", required=True, help="The agent whose runs are scored.")
@click.option("--evaluator", required=True,
              help="A built-in evaluator (regex:…, max_latency:2, tool_called:…, judge:{…}); no module:function.")
@click.option("--sample-rate", type=click.FloatRange(0, 1), required=True, help="The share of runs scored (0…1).")
@click.option("--name", default="", help="The scores' name (default: the evaluator's).")
@_options
def rules_add(agent: str, evaluator: str, sample_rate: float, name: str, url: str, key: str) -> None:
    """Attach an evaluator rule to AGENT (an engineer or admin key)."""
    rule = _call(url, key, "POST", "/api/evaluation/rules",
                 body={"agent": agent, "evaluator": evaluator, "sample_rate": sample_rate, "name": name})
    click.echo(f"rule {rule['id']}: {rule['name']} on {rule['sample_rate']:.0%} of {rule['agent']}'s runs"
               f" ({'the online worker judges them' if rule['kind'] == 'judge' else 'scored by the collector'})")


@rules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
@_options
def rules_list(as_json: bool, url: str, key: str) -> None:
    """The rules in force."""
    found = _call(url, key, "GET", "/api/evaluation/rules")["rules"]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for r in found:
        click.echo(f"{r['id']}  {r['agent']}  {r['name']}  {r['evaluator']}  {r['sample_rate']:g}  ({r['kind']})")


@rules.command("delete")
@click.argument("rule_id")
@_options
def rules_delete(rule_id: str, url: str, key: str) -> None:
    """Stop a rule (its scores stay)."""
    rule = _call(url, key, "DELETE", f"/api/evaluation/rules/{rule_id}")
    click.echo(f"rule {rule['id']} ({rule['name']} on {rule['agent']}) stopped")


@click.command("evaluate")
@click.option("--online", is_flag=True, required=True, help="Judge the sampled live runs of the judge rules.")
@click.option("--once", is_flag=True, help="Judge what is pending now, then exit (else keep polling).")
@click.option("--interval", type=click.FloatRange(0.1), default=5.0, show_default=True, help="Seconds between polls.")
@_options
def evaluate(online: bool, once: bool, interval: float, url: str, key: str) -> None:
    """The online worker: take runs waiting for an LLM judge (GET /api/evaluation/pending), grade
    them with their rule's judge (an OpenAI-compatible endpoint) and post the scores."""
    from flightlog.evaluators import EvalCase, parse

    judged = 0
    while True:
        pending = _call(url, key, "GET", "/api/evaluation/pending", params={"limit": 50})["items"]
        scores = []
        for item in pending:
            result = parse(item["evaluator"])(EvalCase(input=item["input"], output=item["output"]))
            scores.append({"rule_id": item["rule_id"], "trace_id": item["trace_id"], "span_id": item["span_id"],
                           "score": result.score,
                           "label": result.label if result.score is not None else (result.label or "error"),
                           "explanation": result.explanation})
        if scores:
            _call(url, key, "POST", "/api/evaluation/scores", body={"scores": scores})
            judged += len(scores)
            click.echo(f"judged {len(scores)} runs", err=True)
        if once:
            click.echo(f"{judged} runs judged")
            return
        time.sleep(interval)  # the worker's poll interval


def register(main: click.Group) -> None:
    main.add_command(eval_)
    main.add_command(evaluate)
