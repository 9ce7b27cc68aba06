"""``flightlog eval run``: run a task over a dataset as an experiment and gate a CI pipeline on
the scores (docs/evaluation.md). Exit status 0 when every gate holds, 1 when one fails, 2 on a
usage error or when the experiment could not run.

Registered by :mod:`.main` (``register(main)``).
"""

from __future__ import annotations

import click

from flightlog.collector.cli.control import DEFAULT_URL


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


def register(main: click.Group) -> None:
    main.add_command(eval_)
