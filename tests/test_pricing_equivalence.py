"""The two forms of the pricing formula agree: what the collector computes in Python at ingest
(``PriceTable.price``) and what ``flightlog prices recompute`` computes in SQL over stored spans
(``storage.reprice``). Random spans (tokens, cached, reasoning and cache-write tokens, models
with and without specific rates, days either side of a price change) are priced both ways on
the real engine and must give the same cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightlog.collector.cli.storage import price_windows
from flightlog.collector.pricing import parse_prices
from flightlog.storage import Store, open_store
from flightlog.storage.reprice import models_seen, reprice
from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

CUT = date(2026, 2, 1)
TABLE = parse_prices({"version": "eq-test", "models": [
    {"match": "model-a*", "input_per_mtok": 3.0, "output_per_mtok": 15.0},
    {"match": "model-a*", "effective_from": CUT.isoformat(), "input_per_mtok": 2.5, "output_per_mtok": 10.0,
     "cached_input_per_mtok": 1.25, "reasoning_per_mtok": 12.0, "cache_write_per_mtok": 3.75},
    {"match": "model-b", "input_per_mtok": 0.15, "output_per_mtok": 0.6, "cached_input_per_mtok": 0.075},
    {"match": "model-c", "input_per_mtok": 0.0, "output_per_mtok": 0.0},
]})
MODELS = ["model-a", "model-a-mini", "model-b", "model-c", "no-such-model"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = open_store(f"chdb://{tmp_path_factory.mktemp('pricing-eq')}/store")
    yield opened
    opened.close()


spans = st.lists(st.fixed_dictionaries({
    "model": st.sampled_from(MODELS),
    "day_offset": st.integers(-3, 3),
    "input": st.integers(0, 2_000_000),
    "output": st.integers(0, 200_000),
    "cached": st.integers(0, 2_500_000),
    "reasoning": st.integers(0, 250_000),
    "written": st.integers(0, 2_500_000),
}), min_size=20, max_size=80)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=spans)
def test_python_and_sql_pricing_give_the_same_cost(store: Store, batch: list[dict]) -> None:
    project = f"eq{abs(hash(repr(batch))) % 10**12}"
    rows = []
    for i, s in enumerate(batch):
        day = CUT + timedelta(days=s["day_offset"])
        attrs = {"gen_ai.usage.cache_read.input_tokens": str(s["cached"]),
                 "gen_ai.usage.reasoning.output_tokens": str(s["reasoning"]),
                 "gen_ai.usage.cache_creation.input_tokens": str(s["written"])}
        row = {"Project": project, "TraceId": f"{i + 1:032x}", "SpanId": f"{i + 1:016x}",
               "Timestamp": int(datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc).timestamp()) * 10**9,
               "RequestModel": s["model"], "InputTokens": s["input"], "OutputTokens": s["output"],
               "SpanType": "llm", "SpanAttributes": attrs, "CostSource": "none"}
        TABLE.price(row)  # the ingest form
        rows.append(row)
    expected = {r["SpanId"]: (r["CostSource"], r["CostUsd"]) for r in rows}
    # Stored with a wrong cost, then re-priced by the SQL form.
    store.insert_spans([span_row_values({**r, "CostUsd": 999.0, "CostSource": "computed" if r["CostSource"] == "none"
                                         else r["CostSource"]}) for r in rows], SPAN_COLUMNS)
    reprice(store, project, price_windows(TABLE, models_seen(store, project)))
    got = {span: (source, cost) for span, source, cost in store.query_rows(
        "SELECT SpanId, CostSource, CostUsd FROM spans WHERE Project = {p:String}", {"p": project})}
    for span_id, (source, cost) in expected.items():
        if source == "none":
            continue  # nothing to price: the recompute leaves such spans alone
        sql_source, sql_cost = got[span_id]
        assert sql_source == source, (span_id, batch)
        assert sql_cost == pytest.approx(cost, rel=1e-9, abs=1e-12), (span_id, batch)
