"""Tests for the tamper-evident record (flightlog.collector.audit.chain): canonical hashing, the
BatchWriter hook, ``GET /api/audit/verify`` and ``flightlog verify`` in both modes.

Tampering goes straight into the store (ALTER UPDATE, ALTER DELETE, a raw INSERT), done in a
subprocess while the collector is stopped, since chDB allows one process per data directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flightlog.collector.audit.chain import batch_id, canonical, link_hash, span_hash
from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

from conftest import RunningCollector, clean_env, copy_data_dir, fixture_bytes, start_collector
from support.stores import run_cli, run_store_script, send_demo

def _row(**values: object) -> dict:
    return dict(zip(SPAN_COLUMNS, span_row_values({"Project": "p", "TraceId": "a" * 32, "SpanId": "b" * 16,
                                                     "Timestamp": 1_700_000_000_123_456_789, **values})))


# -- canonical form (pure) -------------------------------------------------------------------
def _canonical_by_definition(row: dict) -> bytes:
    """The canonical form as docs/audit.md defines it, written the plain way: the JSON (keys
    sorted, no spaces) of every non-empty hashed column, maps as sorted [key, value] pairs,
    floats as their repr, datetimes as unix ns, booleans as 0/1, and "v"."""
    from datetime import datetime as dt

    from flightlog.collector.audit.chain import CHAIN_VERSION
    from flightlog.storage.audit import HASHED_COLUMNS
    from flightlog.storage.timewindow import to_ns

    def plain(value: object) -> object:
        if isinstance(value, dict):
            return [[str(k), plain(v)] for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dt):
            return to_ns(value)
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float):
            return repr(value)
        return value

    body = {c: plain(row[c]) for c in HASHED_COLUMNS
            if c in row and row[c] not in (None, "", 0, [], {}, ())}
    body["v"] = CHAIN_VERSION
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# Every control character, the JSON specials, the first non-ASCII blocks, the line and paragraph
# separators, a byte-order mark, the last code points of the planes and an emoji.
_EVERY_KIND_OF_CHARACTER = ("".join(chr(c) for c in range(0x800)) + "\u2028\u2029\ufeff\ufffe\uffff"
                            "\U0010ffff\U0001f600")


def test_the_writers_fast_form_hashes_exactly_the_defined_bytes() -> None:
    """The writer hashes rows as value lists (canonical_values), verify and exports as dicts
    (canonical): both must give the defined bytes, for every type a column can hold."""
    from datetime import datetime as dt, timezone as tz

    from flightlog.collector import demo
    from flightlog.collector.audit.chain import canonical_values
    from flightlog.collector.ingest.decode import spans_from_request
    from flightlog.collector.ingest.pipeline import rows_from_spans
    from flightlog.collector.pricing import load_prices

    rows = [r for request in demo.build_demo_requests()[:3]
            for r in rows_from_spans(spans_from_request(request), project="p", prices=load_prices())]
    rows = [dict(zip(SPAN_COLUMNS, span_row_values(r))) for r in rows]
    rows += [_row(SpanAttributes={"b": "x", "a": "é ünïcode", "c": ""}, Duration=0, CostUsd=0.5),
             _row(SpanAttributes={2: "two", 10: "ten"}, Timestamp=dt(2026, 1, 1, tzinfo=tz.utc)),
             _row(**{"Events.Attributes": [{"k": "v"}, {}], "Events.Name": ("a", "b")}),
             _row(Streamed=True, TimeToFirstChunkMs=12.5),
             _row(InputText=_EVERY_KIND_OF_CHARACTER, SpanAttributes={_EVERY_KIND_OF_CHARACTER: "\x00\u2028"}),
             _row(SpanAttributes={"n": 1.0, "t": "x"}, ResourceAttributes={"a": ""}, InputTokens=2**64 + 1),
             _row(Duration=-(2**63) - 1, OutputText="\U0001f600 \ufeff \uffff", Streamed=False)]
    assert len(rows) > 20
    for row in rows:
        expected = _canonical_by_definition(row)
        assert canonical(row) == expected
        assert canonical_values([row[c] for c in SPAN_COLUMNS]) == expected


def test_canonical_ignores_map_order() -> None:
    assert span_hash(_row(SpanAttributes={"a": "1", "b": "2"})) == span_hash(_row(SpanAttributes={"b": "2", "a": "1"}))


def test_canonical_keeps_nanoseconds() -> None:
    assert span_hash(_row(Timestamp=1_700_000_000_123_456_789)) != span_hash(_row(Timestamp=1_700_000_000_123_456_788))


def test_canonical_reads_datetimes_as_nanoseconds() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    ns = int(at.timestamp()) * 10**9 + 678000 * 1000
    assert canonical(_row(Timestamp=at)) == canonical(_row(Timestamp=ns))


@pytest.mark.parametrize("column, value", [
    ("IngestTime", 123), ("ChainHash", "1:2:abc"), ("CostUsd", 9.5), ("PriceVersion", "2030-01"),
    ("CostSource", "client"),
])
def test_canonical_leaves_out_store_and_price_columns(column: str, value: object) -> None:
    assert span_hash(_row(**{column: value})) == span_hash(_row())


@pytest.mark.parametrize("column, value", [
    ("InputText", "changed"), ("RequestModel", "gpt-x"), ("PromptVersion", "v9"), ("Approver", "mallory"),
    ("SpanAttributes", {"k": "v"}), ("InputTokens", 5),
])
def test_canonical_covers_content_columns(column: str, value: object) -> None:
    assert span_hash(_row(**{column: value})) != span_hash(_row())


def test_canonical_omits_empty_values_so_new_columns_keep_old_hashes() -> None:
    row = _row()
    row["SomeFutureColumn"] = ""
    assert span_hash(row) == span_hash(_row())


def test_batch_id_is_order_free_and_links_chain() -> None:
    assert batch_id({"a", "b"}) == batch_id({"b", "a"})
    assert link_hash("0" * 64, batch_id({"a"})) != link_hash("1" * 64, batch_id({"a"}))


# -- against a running collector ---------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped collector's data directory holding the demo, chained (made once per module)."""
    running = start_collector(tmp_path_factory.mktemp("chain-demo") / "collector")
    send_demo(running)
    running.stop()
    return running.data_dir


@pytest.fixture
def chained_dir(demo_store: Path, tmp_path: Path) -> Path:
    """A copy of the demo store for a test that alters it."""
    return copy_data_dir(demo_store, tmp_path / "collector")


@pytest.fixture(scope="module")
def chained(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """A collector serving a copy of the demo store, for the tests that only read it."""
    running = start_collector(copy_data_dir(demo_store, tmp_path_factory.mktemp("chain-read") / "collector"))
    yield running
    running.stop()


def test_verify_api_reports_ok_with_counts(chained: RunningCollector) -> None:
    report = chained.get("/api/audit/verify", key=chained.admin_key).json()
    assert report["ok"], report
    assert report["spans_ok"] > 50 and report["spans_ok"] == report["spans_checked"]
    assert report["batches"] >= 1 and report["head"]["seq"] == report["batches"]
    assert report["summary"].startswith("OK")


def test_verify_api_needs_an_auditor_or_admin_key(chained: RunningCollector) -> None:
    assert chained.get("/api/audit/verify").status_code == 403  # the dev read key is an engineer key


def test_spans_carry_their_chain_hash(chained_dir: Path) -> None:
    out = run_store_script(chained_dir, "print(store.query_rows(\"SELECT countIf(ChainHash = '') FROM spans\")[0][0])")
    assert out.strip() == "0"


def test_tampering_is_named_by_verify(chained_dir: Path, tmp_path: Path) -> None:
    out = run_store_script(chained_dir, """
        rows = store.query_rows("SELECT TraceId, SpanId FROM spans WHERE Project = 'default' ORDER BY Timestamp LIMIT 3")
        (ta, sa), (td, sd), (tf, sf) = rows
        store.command("ALTER TABLE spans UPDATE InputText = concat(InputText, ' (edited)') WHERE SpanId = {s:String}"
                      " SETTINGS mutations_sync = 2", {"s": sa})
        store.command("ALTER TABLE spans DELETE WHERE SpanId = {s:String} SETTINGS mutations_sync = 2", {"s": sd})
        cols = ", ".join(f"`{c}`" for c in SPAN_COLUMNS if c != "SpanId")
        store.command(f"INSERT INTO spans (SpanId, {cols}) SELECT 'f0f0f0f0f0f0f0f0', {cols} FROM spans"
                      " WHERE SpanId = {s:String} LIMIT 1", {"s": sf})
        print(json.dumps({"altered": sa, "deleted": sd, "forged": "f0f0f0f0f0f0f0f0"}))
    """)
    ids = json.loads(out)
    done = run_cli("verify", "--project", "default", "--data-dir", str(chained_dir), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert [s["span_id"] for s in report["altered"]["spans"]] == [ids["altered"]]
    assert [s["span_id"] for s in report["deleted"]["spans"]] == [ids["deleted"]]
    assert [s["span_id"] for s in report["inserted_out_of_band"]["spans"]] == [ids["forged"]]
    assert report["chain_errors"] == []
    text = run_cli("verify", "--project", "default", "--data-dir", str(chained_dir))
    assert "ALTERED" in text.stdout and ids["altered"] in text.stdout and "FAILED" in text.stdout

    # Restarted, the collector keeps chaining onto the same head and the API names the same spans.
    again = start_collector(chained_dir)
    try:
        assert again.post("/v1/traces", fixture_bytes("openinference-openai.pb"), "application/x-protobuf").status_code == 200
        again.drain()
        report = again.get("/api/audit/verify", key=again.admin_key).json()
        assert report["chain_errors"] == []
        assert {s["span_id"] for s in report["altered"]["spans"]} == {ids["altered"]}
        assert {s["span_id"] for s in report["deleted"]["spans"]} == {ids["deleted"]}
        assert {s["span_id"] for s in report["inserted_out_of_band"]["spans"]} == {ids["forged"]}
        remote = run_cli("verify", "--url", again.url, "--key", again.admin_key)
        assert remote.returncode == 1 and ids["deleted"] in remote.stdout
    finally:
        again.stop()


def test_forged_chain_link_is_reported(chained_dir: Path) -> None:
    run_store_script(chained_dir, """
        store.command("ALTER TABLE chain_batches UPDATE Hash = repeat('e', 64) WHERE Seq = 1 SETTINGS mutations_sync = 2")
    """)
    done = run_cli("verify", "--project", "default", "--data-dir", str(chained_dir), "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert any("batch #1" in e for e in report["chain_errors"])


def test_replayed_batch_keeps_its_place_in_the_chain(tmp_path: Path) -> None:
    """A spool segment stored, then replayed after a crash, is recognised by its id."""
    out = run_store_script(tmp_path, """
        from flightlog.collector.audit.chain import ChainWriter, verify
        from flightlog.storage.schema import span_row_values
        def rows(n, start=0):
            return [span_row_values({"Project": "p", "TraceId": "c" * 32, "SpanId": f"{i:016x}",
                                     "Timestamp": 1_700_000_000_000_000_000 + i, "InputText": f"t{i}"})
                    for i in range(start, start + n)]
        writer = ChainWriter(store, "collector-a")
        first = writer.prepare(rows(4))
        store.insert_spans(first, SPAN_COLUMNS)
        replay = ChainWriter(store, "collector-a").prepare(rows(4))  # a new process replays the same segment
        store.insert_spans(replay, SPAN_COLUMNS)
        store.insert_spans(writer.prepare(rows(3, 10)), SPAN_COLUMNS)
        same = first[0][SPAN_COLUMNS.index("ChainHash")] == replay[0][SPAN_COLUMNS.index("ChainHash")]
        report = verify(store, "p")
        print(json.dumps({"same": same, "ok": report.ok, "batches": report.batches, "spans": report.spans_ok}))
    """)
    result = json.loads(out)
    assert result == {"same": True, "ok": True, "batches": 2, "spans": 7}


@pytest.mark.parametrize("hours, expected", [
    ([], []),
    ([(0, 10)], [(0, 3600)]),
    ([(0, 10), (3600, 10)], [(0, 7200)]),
    ([(0, 10), (7200, 10)], [(0, 3600), (7200, 10800)]),  # an empty hour splits
    ([(0, 150), (3600, 100)], [(0, 3600), (3600, 7200)]),  # over max_rows splits
])
def test_verify_windows_are_bounded(hours: list, expected: list) -> None:
    from flightlog.collector.audit.chain import windows

    ns = 10**9
    got = windows([(h * ns, n) for h, n in hours], 0, 10**6 * ns, max_rows=200)
    assert got == [(a * ns, b * ns) for a, b in expected]


# -- cost: chained on its own, re-derived from the price table, rollups re-derived from spans ----
def test_an_edited_cost_and_its_rollups_are_named_by_verify(chained_dir: Path) -> None:
    out = run_store_script(chained_dir, """
        trace, span, hour = store.query_rows(
            "SELECT TraceId, SpanId, toStartOfHour(Timestamp, 'UTC') FROM spans"
            " WHERE Project = 'default' AND CostSource = 'computed' ORDER BY Timestamp LIMIT 1")[0]
        store.command("ALTER TABLE spans UPDATE CostUsd = CostUsd + 1000 WHERE SpanId = {s:String}"
                      " SETTINGS mutations_sync = 2", {"s": span})
        store.command("ALTER TABLE usage_hourly UPDATE CostUsd = CostUsd + 1000 WHERE Project = 'default'"
                      " AND Hour = {h:DateTime} AND CostUsd > 0 SETTINGS mutations_sync = 2", {"h": hour})
        print(json.dumps({"span": span}))
    """)
    edited = json.loads(out)["span"]
    done = run_cli("verify", "--project", "default", "--data-dir", str(chained_dir), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert [s["span_id"] for s in report["cost_altered"]["spans"]] == [edited]
    assert report["cost_altered"]["spans"][0]["cost_usd"] > 1000
    assert report["rollups_altered"]["count"] >= 1
    assert report["altered"]["count"] == 0, "the span's content is untouched: only its cost is named"
    text = run_cli("verify", "--project", "default", "--data-dir", str(chained_dir))
    assert "COST" in text.stdout and edited in text.stdout and "ROLLUP" in text.stdout


def test_a_cost_source_switched_to_client_is_caught(chained_dir: Path) -> None:
    out = run_store_script(chained_dir, """
        (span,) = store.query_rows("SELECT SpanId FROM spans WHERE Project = 'default' AND CostSource = 'computed'"
                                   " ORDER BY Timestamp DESC LIMIT 1")[0]
        store.command("ALTER TABLE spans UPDATE CostSource = 'client', CostUsd = 0 WHERE SpanId = {s:String}"
                      " SETTINGS mutations_sync = 2", {"s": span})
        print(span)
    """)
    report = json.loads(run_cli("verify", "--project", "default", "--data-dir", str(chained_dir),
                                "--json").stdout)
    assert out.strip() in {s["span_id"] for s in report["cost_altered"]["spans"]}


def test_a_price_recompute_is_recorded_and_verifies(chained_dir: Path, tmp_path: Path) -> None:
    table = json.loads((Path(__file__).resolve().parents[1] / "collector" / "prices.json").read_text())
    table["version"] = "test-doubled"
    for entry in table["models"]:
        for key in ("input_per_mtok", "output_per_mtok"):
            entry[key] = entry[key] * 2
    prices = tmp_path / "doubled.json"
    prices.write_text(json.dumps(table))
    done = subprocess.run([sys.executable, "-m", "flightlog.collector.cli", "prices", "recompute",
                           "--data-dir", str(chained_dir), "--prices-file", str(prices)],
                          capture_output=True, text=True, env=clean_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["spans_repriced"] > 0 and result["event_id"]
    report = json.loads(run_cli("verify", "--project", "default", "--data-dir", str(chained_dir), "--json").stdout)
    assert report["ok"], report["summary"]
    assert report["costs_checked"] >= result["spans_repriced"]
    log = run_store_script(chained_dir, """
        print(store.query_rows("SELECT Details FROM governance_log WHERE Action = 'prices.recompute'")[0][0])
    """)
    assert json.loads(log)["event_id"] == result["event_id"]
