"""Tests for versioned prices: effective dates and reasoning rates in collector.pricing, and
re-pricing stored spans (flightlog.storage.reprice, `flightlog prices recompute`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest

from flightlog.collector.cli.storage import price_windows
from flightlog.collector.pricing import load_prices, parse_prices
from flightlog.storage import Store, costs, open_store
from flightlog.storage.reprice import models_seen, reprice
from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

from conftest import clean_env

CUT = date(2026, 2, 1)
TABLE = parse_prices({
    "version": "v-test",
    "models": [
        {"match": "model-a*", "input_per_mtok": 10.0, "output_per_mtok": 20.0},
        {"match": "model-a*", "effective_from": CUT.isoformat(), "input_per_mtok": 1.0, "output_per_mtok": 2.0,
         "cached_input_per_mtok": 0.5, "reasoning_per_mtok": 4.0, "cache_write_per_mtok": 1.25},
        {"match": "model-a-pro", "input_per_mtok": 100.0, "output_per_mtok": 100.0},
    ],
})


def ns(day: date, hour: int = 12) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc).timestamp()) * 1_000_000_000


@pytest.mark.parametrize("model,day,expected", [
    ("model-a", CUT - timedelta(days=1), (10.0, 20.0, 10.0, 20.0, 10.0)),  # before the change
    ("model-a", CUT, (1.0, 2.0, 0.5, 4.0, 1.25)),                          # on the day it takes effect
    ("model-a", None, (1.0, 2.0, 0.5, 4.0, 1.25)),                         # no day: the newest
    ("model-a-pro", CUT, (100.0, 100.0, 100.0, 100.0, 100.0)),             # more specific pattern still wins
    ("model-b", CUT, None),
])
def test_the_price_in_force_on_the_span_day_applies(model, day, expected) -> None:
    entry = TABLE.lookup(model, day)
    assert (entry.rates if entry else None) == expected


@pytest.mark.parametrize("row,cost,cached,reasoning", [
    ({"Timestamp": ns(CUT - timedelta(days=3))}, (1000 * 10 + 100 * 20) / 1e6, 0, 0),
    ({"Timestamp": ns(CUT)}, (1000 * 1 + 100 * 2) / 1e6, 0, 0),
    ({"Timestamp": ns(CUT), "SpanAttributes": {"gen_ai.usage.cache_read.input_tokens": "400",
                                               "gen_ai.usage.reasoning_tokens": "60"}},
     (600 * 1 + 400 * 0.5 + 40 * 2 + 60 * 4) / 1e6, 400, 60),
])
def test_price_uses_cached_and_reasoning_rates_and_records_the_counts(row, cost, cached, reasoning) -> None:
    span = {"RequestModel": "model-a", "InputTokens": 1000, "OutputTokens": 100, "CostSource": "none", **row}
    TABLE.price(span)
    assert span["CostUsd"] == pytest.approx(cost)
    assert (span["CachedInputTokens"], span["ReasoningTokens"], span["CostSource"]) == (cached, reasoning, "computed")


def test_client_cost_wins_but_token_details_are_kept() -> None:
    span = {"RequestModel": "model-a", "InputTokens": 10, "CostUsd": 0.5, "CostSource": "client",
            "SpanAttributes": {"gen_ai.usage.cache_read.input_tokens": "4"}}
    TABLE.price(span)
    assert (span["CostUsd"], span["CostSource"], span["CachedInputTokens"]) == (0.5, "client", 4)


@pytest.mark.parametrize("entries,message", [
    ([{"match": "a", "input_per_mtok": 1, "output_per_mtok": 1, "effective_from": "2026-13-01"}], "YYYY-MM-DD date"),
    ([{"match": "a", "input_per_mtok": 1, "output_per_mtok": 1, "effective_from": "2026-01-01"},
      {"match": "A", "input_per_mtok": 2, "output_per_mtok": 2, "effective_from": "2026-01-01"}], "duplicate match pattern"),
    ([{"match": "a", "input_per_mtok": 1, "output_per_mtok": 1, "reasoning_per_mtok": -1}], "reasoning_per_mtok"),
])
def test_bad_versioned_entries_are_refused(entries, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_prices({"version": "x", "models": entries})


def test_the_shipped_table_has_a_dated_price_change() -> None:
    table = load_prices()
    assert table.effective_dates
    day = table.effective_dates[0]
    entry_before, entry_after = table.lookup("o3", day - timedelta(days=1)), table.lookup("o3", day)
    assert entry_before.rates != entry_after.rates


def test_price_windows_split_at_effective_dates() -> None:
    windows = price_windows(TABLE, ["model-a", "model-b"])
    assert [(w.start, w.end) for w in windows] == [(None, CUT), (CUT, None)]
    assert windows[0].rates == {"model-a": (10.0, 20.0, 10.0, 20.0, 10.0)}
    assert windows[1].rates["model-a"] == (1.0, 2.0, 0.5, 4.0, 1.25)


# -- re-pricing stored spans ------------------------------------------------------------

CACHE_USAGE = {"gen_ai.usage.cache_read.input_tokens": "200000", "gen_ai.usage.cache_creation.input_tokens": "300000"}


def _row(span_no: int, day: date, model: str, **cols) -> list:
    row = {"Project": "rp", "Timestamp": ns(day), "TraceId": f"{span_no:032x}", "SpanId": f"{span_no:016x}",
           "SpanType": "llm", "RequestModel": model, "InputTokens": 1_000_000, "OutputTokens": 0,
           "CostUsd": 0.0, "CostSource": "unknown", "PriceVersion": "old"}
    row.update(cols)
    return span_row_values(row)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = open_store(f"chdb://{tmp_path_factory.mktemp('prices')}/store")
    before, after = CUT - timedelta(days=2), CUT + timedelta(days=2)
    opened.insert_spans([
        _row(1, before, "model-a", CostUsd=99.0, CostSource="computed"),  # stale price
        _row(2, after, "model-a", CostUsd=99.0, CostSource="computed"),
        _row(3, after, "model-b"),                                          # unknown, stays unknown
        _row(4, after, "model-a", CostUsd=0.25, CostSource="client"),       # client cost wins
        _row(5, after, "model-a", InputTokens=0, CostSource="none"),        # nothing to price
        _row(6, after, "model-a", CostUsd=99.0, CostSource="computed", CachedInputTokens=200_000,
             SpanAttributes=CACHE_USAGE),                                   # cache reads and writes
    ], SPAN_COLUMNS)
    yield opened
    opened.close()


def test_reprice_applies_each_days_price_keeps_client_cost_and_rebuilds_rollups(store: Store) -> None:
    assert [r["model"] for r in costs.unknown_models(store, "rp")] == ["model-b"]
    report = reprice(store, "rp", price_windows(TABLE, models_seen(store, "rp")))
    assert (report.spans_repriced, report.unknown_after, report.days_rebuilt) == (4, 1, 2)
    by_span = dict(store.query_rows("SELECT toUInt32(reinterpretAsUInt64(reverse(unhex(SpanId)))), CostUsd FROM spans WHERE Project = 'rp'"))
    # 6: 500k plain input at $1, 200k cache reads at $0.50, 300k cache writes at $1.25 per million
    assert by_span == {1: pytest.approx(10.0), 2: pytest.approx(1.0), 3: 0.0, 4: 0.25, 5: 0.0, 6: pytest.approx(0.975)}
    ingest = {"RequestModel": "model-a", "InputTokens": 1_000_000, "OutputTokens": 0, "SpanAttributes": CACHE_USAGE,
              "Timestamp": ns(CUT + timedelta(days=2))}
    TABLE.price(ingest)  # the collector's price at ingest agrees with the recompute
    assert ingest["CostUsd"] == pytest.approx(by_span[6])
    assert store.query_rows("SELECT DISTINCT PriceVersion FROM spans WHERE Project = 'rp' AND CostSource = 'computed'") == [("v-test",)]
    total = costs.cost_summary(store, "rp", [])[0]
    assert (total["cost_usd"], total["spans"], total["calls"]) == (pytest.approx(12.225), 6, 6)
    assert [r["model"] for r in costs.unknown_models(store, "rp")] == ["model-b"]


def test_prices_recompute_command_runs_on_a_stopped_store(tmp_path) -> None:
    data_dir = tmp_path / "data"
    code = (
        "from flightlog.storage import open_store\n"
        "from flightlog.storage.schema import SPAN_COLUMNS, span_row_values\n"
        f"s = open_store('chdb://{data_dir}/store')\n"
        "s.insert_spans([span_row_values({'Project': 'default', 'Timestamp': 1_780_000_000_000_000_000,"
        " 'TraceId': 'a' * 32, 'SpanId': 'b' * 16, 'SpanType': 'llm', 'RequestModel': 'gpt-4o',"
        " 'InputTokens': 1_000_000, 'CostSource': 'unknown'})], SPAN_COLUMNS)\n"
        "s.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=clean_env(), timeout=120)
    out = subprocess.run(
        [sys.executable, "-c", "from flightlog.collector.cli.storage import prices; prices()",
         "recompute", "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True, env=clean_env(), timeout=120,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["spans_repriced"] == 1 and report["unknown_after"] == 0 and report["days_rebuilt"] == 1
