"""Storage commands of the ``flightlog`` CLI: ``prices recompute``, ``prices unknown``, ``store copy``,
``bench``.

Registered by :mod:`.cli` (``main.add_command(prices)``, ``main.add_command(bench)``). They
open the store themselves, so with the embedded engine they must run while the collector
is stopped (one process per data directory, docs/decisions/0001-the-collector-owns-the-store.md); against a ClickHouse server they
run anywhere.
"""

from __future__ import annotations

import json
import uuid
import runpy
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from flightlog.storage import StorageError, open_store
from flightlog.storage.copy import DEFAULT_PAGE_ROWS, copy_plan, copy_store, count_rows
from flightlog.storage.costs import unknown_models
from flightlog.storage.dsn import parse_dsn
from flightlog.storage.audit import record_price_table
from flightlog.storage.governance import log_change
from flightlog.storage.reprice import PriceWindow, models_seen, reprice

from flightlog.collector.config import Settings
from flightlog.collector.pricing import PriceTable, load_prices


def price_windows(table: PriceTable, models: list[str]) -> list[PriceWindow]:
    """One window per run of days with the same prices; rates of every model the table knows."""
    bounds: list[date | None] = [None, *table.effective_dates, None]
    windows = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        at = lo or date(1970, 1, 1)
        rates = {}
        for model in models:
            entry = table.lookup(model, at)
            if entry is not None:
                rates[model] = entry.rates
        windows.append(PriceWindow(start=lo, end=hi, version=table.version, rates=rates))
    return windows


def _store_options(func: Any) -> Any:
    func = click.option("--dsn", default=None,
                        help="Store DSN (default: the data dir's embedded store) [env FLIGHTLOG_DSN]")(func)
    func = click.option("--data-dir", default=None, help="Data directory [env FLIGHTLOG_DATA_DIR]")(func)
    func = click.option("--project", default=None,
                        help="Project (default: the default project) [env FLIGHTLOG_DEFAULT_PROJECT]")(func)
    return func


def _settings(data_dir: str | None, dsn: str | None, project: str | None) -> Settings:
    return Settings.from_env(data_dir=data_dir, dsn=dsn, project=project)


def _open(settings: Settings) -> Any:
    try:
        return open_store(settings.dsn)
    except StorageError as exc:
        raise click.ClickException(
            f"{exc}\nWith the embedded store, stop the collector first (one process per data directory)."
        ) from exc


@click.group("prices")
def prices() -> None:
    """Price table maintenance: re-price stored spans, list unpriced models."""


@prices.command("recompute")
@_store_options
@click.option("--prices-file", default=None, help="Price table JSON (default: the shipped one) [env FLIGHTLOG_PRICES_FILE]")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First UTC day to re-price (default: all).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last UTC day to re-price (inclusive).")
def recompute(data_dir: str | None, dsn: str | None, project: str | None, prices_file: str | None,
              since: Any, until: Any) -> None:
    """Re-price computed and unknown-model spans with the current price table (client costs are kept)."""
    settings = _settings(data_dir, dsn, project)
    try:
        table = load_prices(prices_file or settings.prices_file or None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    store = _open(settings)
    event_id = uuid.uuid4().hex
    try:
        record_price_table(store, table.version, table.sha256, table.body)
        windows = price_windows(table, models_seen(store, settings.project))
        report = reprice(store, settings.project, windows,
                         since=since.date() if since else None,
                         until=until.date() + timedelta(days=1) if until else None, event_id=event_id)
        # The recompute is itself on record: who ran it, with which table, over which days.
        log_change(store, settings.project, "cli", "prices.recompute", {
            "event_id": event_id, "price_version": table.version, "price_table_sha256": table.sha256,
            "since": since.date().isoformat() if since else None, "until": until.date().isoformat() if until else None,
            **vars(report)})
    finally:
        store.close()
    click.echo(json.dumps({"project": settings.project, "price_version": table.version, "event_id": event_id,
                           **vars(report)}))


@prices.command("unknown")
@_store_options
def unknown(data_dir: str | None, dsn: str | None, project: str | None) -> None:
    """List models that had tokens but no price (counted, cost 0), as JSON lines."""
    settings = _settings(data_dir, dsn, project)
    store = _open(settings)
    try:
        for row in unknown_models(store, settings.project):
            click.echo(json.dumps(row))
    finally:
        store.close()


@click.group("store")
def store() -> None:
    """Whole-store operations: copy an embedded store to a ClickHouse server."""


@store.command("copy")
@click.option("--from", "source_dsn", required=True,
              help="The store to copy, e.g. chdb:///home/me/.local/share/flightlog/store (stop its collector first).")
@click.option("--to", "target_dsn", required=True, help="The store to fill, e.g. http://user:pass@clickhouse:8123/flightlog.")
@click.option("--page-rows", type=click.IntRange(min=100), default=DEFAULT_PAGE_ROWS, show_default=True,
              help="Rows per copied page (one insert each).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def copy(source_dsn: str, target_dsn: str, page_rows: int, quiet: bool) -> None:
    """Copy every table (spans, logs, rollups, keys, chain, approvals, policies, …) into another store.

    Idempotent: running it again inserts nothing twice. Run it before collectors write to the
    target; then check the target with `flightlog verify --dsn TARGET --project P`."""
    try:
        parse_dsn(source_dsn)
        parse_dsn(target_dsn)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if source_dsn == target_dsn:
        raise click.ClickException("--from and --to name the same store")
    try:
        source = open_store(source_dsn)
    except StorageError as exc:
        raise click.ClickException(f"{exc}\nWith the embedded store, stop its collector first.") from exc
    try:
        target = open_store(target_dsn)
    except StorageError as exc:
        source.close()
        raise click.ClickException(str(exc)) from exc
    try:
        plan = copy_plan()
        total = sum(count_rows(source, t) for t in plan.tables + plan.view_filled)
        with click.progressbar(length=total, label="copying", file=sys.stderr, show_pos=True,
                               hidden=quiet) as bar:
            report = copy_store(source, target, page_rows=page_rows, progress=lambda _t, n: bar.update(n))
    except StorageError as exc:
        raise click.ClickException(f"copy stopped: {exc}; run it again to go on (nothing is copied twice)") from exc
    finally:
        source.close()
        target.close()
    click.echo(json.dumps({"from": parse_dsn(source_dsn).display(), "to": parse_dsn(target_dsn).display(),
                           "tables": report.to_dict()}))


BENCH_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "storage_bench.py"


@click.command("bench", add_help_option=False,
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Run the storage benchmark (bench/storage_bench.py in a checkout; --help for its options)."""
    if not BENCH_SCRIPT.exists():
        raise click.ClickException(f"{BENCH_SCRIPT} not found: the benchmark runs from a source checkout")
    sys.argv = [str(BENCH_SCRIPT), *ctx.args]
    runpy.run_path(str(BENCH_SCRIPT), run_name="__main__")
