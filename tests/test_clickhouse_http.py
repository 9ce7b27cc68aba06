"""The ClickHouse HTTP harness (tests/support/clickhouse_http.py) against real clients.

clickhouse-connect's HTTP client talks to the harness exactly as it talks to a server;
plain urllib / http.client requests pin the raw protocol (headers, error bodies, status
codes, framing). The engine behind it is chDB, in the harness's own process.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_connect.driver.external import ExternalData

from conftest import wait_until
from support.clickhouse_http import BLOCK_INFO
from support.harness import Harness, start_harness

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def ch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = start_harness(tmp_path_factory.mktemp("harness") / "data")
    yield harness
    assert harness.stop() == 0, harness.log()  # a clean SIGTERM shutdown


@pytest.fixture(scope="module")
def client(ch: Harness):
    c = ch.client()
    yield c
    c.close()


def request(ch: Harness, query: str | None = None, *, body: bytes | None = None, params: dict | None = None,
            headers: dict | None = None, method: str | None = None, path: str = "/",
            auth: tuple[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request; returns (status, headers, body) for errors too."""
    query_params = dict(params or {})
    if query is not None:
        query_params["query"] = query
    url = f"{ch.url}{path}" + (f"?{urllib.parse.urlencode(query_params)}" if query_params else "")
    hdrs = dict(headers or {})
    if auth is None:
        auth = (ch.user, ch.password)
    if auth and "X-ClickHouse-User" not in hdrs:
        hdrs["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(url, data=body, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


ERROR_BODY = re.compile(r"^Code: (\d+)\. DB::Exception: (.+)\. \(([A-Z_]+)\) \(version 26\.9[^()]*\)\n$", re.S)


# -- connecting ---------------------------------------------------------------------------

def test_connect_reads_version_timezone_settings_and_negotiates_the_native_protocol(ch: Harness, client) -> None:
    version, tz = client.command("SELECT version(), timezone()")
    assert client.server_version == version and version.startswith("26.9")
    assert client.server_tz == timezone.utc and tz in ("UTC", "Etc/UTC")
    assert "max_execution_time" in client.server_settings and client.server_settings["readonly"].value == "0"
    # The client's probe saw the BlockInfo a server sends, so it reads Native with block info.
    assert client.protocol_version == 54405
    assert client.ping()


def test_native_blocks_carry_block_info_for_a_protocol_client(ch: Harness) -> None:
    status, headers, body = request(ch, "SELECT 1 AS check FORMAT Native", params={"client_protocol_version": "54405"})
    assert status == 200 and headers["X-ClickHouse-Format"] == "Native"
    assert body == BLOCK_INFO + b"\x01\x01\x05check\x05UInt8\x01"
    status, _, body = request(ch, "SELECT 1 AS check FORMAT Native")
    assert body == b"\x01\x01\x05check\x05UInt8\x01"
    status, headers, body = request(ch, "SELECT 1 FORMAT Native", params={"client_protocol_version": "54460"})
    assert status == 501 and headers["X-ClickHouse-Exception-Code"] == "48"


def test_many_blocks_and_statements_chdb_cannot_stream_parse_in_the_client(client) -> None:
    result = client.query("SELECT number, toString(number) AS s FROM numbers(200000) SETTINGS max_block_size = 65536")
    assert len(result.result_rows) == 200000 and result.result_rows[-1] == (199999, "199999")
    client.command("CREATE TABLE IF NOT EXISTS describe_me (a UInt8, b Map(LowCardinality(String), String)) ENGINE = Memory")
    described = client.query("DESCRIBE TABLE describe_me").result_rows
    assert [(r[0], r[1]) for r in described] == [("a", "UInt8"), ("b", "Map(LowCardinality(String), String)")]
    assert client.query("SHOW TABLES LIKE 'describe%'").result_rows == [("describe_me",)]
    assert client.query("EXISTS TABLE describe_me").result_rows == [(1,)]
    union = client.query("SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3").result_rows  # three blocks
    assert sorted(union) == [(1,), (2,), (3,)]


# -- every column type of the Flightlog schema --------------------------------------------

TYPES_DDL = """
CREATE TABLE IF NOT EXISTS every_type
(
    Project LowCardinality(String),
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64,
    Tier UInt8,
    Status UInt16,
    Spans UInt32,
    CostUsd Float64,
    Price Decimal(18, 6),
    Day Date,
    Hour DateTime('UTC'),
    Events Nested
    (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ),
    TraceIds Array(String),
    IngestTime DateTime64(3) DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(IngestTime)
ORDER BY (Project, Timestamp, TraceId)
"""
TYPE_COLUMNS = ["Project", "Timestamp", "TraceId", "Attributes", "Duration", "Tier", "Status", "Spans", "CostUsd",
                "Price", "Day", "Hour", "Events.Timestamp", "Events.Name", "Events.Attributes", "TraceIds",
                "IngestTime"]
NS = 1_772_323_200_123_456_789  # 2026-03-01 00:00:00.123456789 UTC
TYPE_ROWS = [
    ["p1", NS, "a" * 32, {"gen_ai.system": "openai", "k'ey": "va\\lue\n"}, 2**64 - 1, 255, 65535, 2**32 - 1,
     0.1 + 0.2, Decimal("1234.567891"), date(2026, 3, 1), datetime(2026, 3, 1, 13, 0, 0),
     [NS + 1, NS + 2], ["start", "end"], [{"x": "1"}, {}], ["t1", "t'2", ""], 1_772_323_200_123],
    ["p2 ünïcødé 東京", NS + 999, "", {}, 0, 0, 0, 0, float("inf"), Decimal("-0.000001"), date(1970, 1, 1),
     datetime(2106, 2, 7, 6, 28, 15), [], [], [], [], 0],
]


def test_every_flightlog_column_type_round_trips(client) -> None:
    client.command(TYPES_DDL)
    client.insert("every_type", TYPE_ROWS, column_names=TYPE_COLUMNS)  # Native, lz4-compressed
    got = client.query(f"SELECT {', '.join(f'`{c}`' for c in TYPE_COLUMNS)} FROM every_type ORDER BY Project").result_rows
    assert len(got) == 2
    first, second = got
    assert first[0] == "p1" and first[2] == "a" * 32
    assert first[1] == datetime(2026, 3, 1, 0, 0, 0, 123456)  # microseconds in Python …
    assert first[3] == {"gen_ai.system": "openai", "k'ey": "va\\lue\n"}
    assert first[4:9] == (2**64 - 1, 255, 65535, 2**32 - 1, 0.1 + 0.2)
    assert first[9] == Decimal("1234.567891") and first[10] == date(2026, 3, 1)
    assert first[11] == datetime(2026, 3, 1, 13, 0, 0)
    assert first[13:16] == (["start", "end"], [{"x": "1"}, {}], ["t1", "t'2", ""])
    assert first[16] == datetime(2026, 3, 1, 0, 0, 0, 123000)
    assert second[0] == "p2 ünïcødé 東京" and second[3] == {} and second[8] == float("inf")
    assert second[9] == Decimal("-0.000001") and second[11] == datetime(2106, 2, 7, 6, 28, 15)
    assert second[12:16] == ([], [], [], [])
    # … and every nanosecond on the server.
    assert client.query("SELECT toUnixTimestamp64Nano(Timestamp), arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp)"
                        " FROM every_type ORDER BY Project").result_rows == [(NS, [NS + 1, NS + 2]), (NS + 999, [])]
    assert client.query("SELECT Attributes['k\\'ey'], Events.Attributes[1]['x'] FROM every_type WHERE Project = 'p1'"
                        ).result_rows == [("va\\lue\n", "1")]


def test_aggregate_function_states_and_simple_aggregates(client) -> None:
    client.command("CREATE TABLE IF NOT EXISTS rollup (Hour DateTime('UTC'), Spans SimpleAggregateFunction(sum, UInt64),"
                   " First SimpleAggregateFunction(min, DateTime64(9)),"
                   " Latency AggregateFunction(quantilesTDigest(0.5, 0.9), UInt64)) ENGINE = AggregatingMergeTree ORDER BY Hour")
    for lo in (1, 51):
        client.command("INSERT INTO rollup SELECT toDateTime('2026-03-01 00:00:00', 'UTC'), count(),"
                       " min(fromUnixTimestamp64Nano(toInt64(number))), quantilesTDigestState(0.5, 0.9)(number)"
                       f" FROM numbers({lo}, 50)")
    spans, first, p50 = client.query(
        "SELECT sum(Spans), toUnixTimestamp64Nano(min(First)), quantilesTDigestMerge(0.5, 0.9)(Latency)[1] FROM rollup"
    ).result_rows[0]
    assert spans == 100 and first == 1 and 45 <= p50 <= 56


def test_other_output_formats_and_rowbinary_inserts(ch: Harness, client) -> None:
    client.command("CREATE TABLE IF NOT EXISTS rb (id UInt32, name String, tags Array(LowCardinality(String)))"
                   " ENGINE = MergeTree ORDER BY id")
    client.command("INSERT INTO rb VALUES (1, 'one', ['a', 'b']), (2, 'tw\\'o', [])")
    raw = client.raw_query("SELECT * FROM rb ORDER BY id", fmt="RowBinaryWithNamesAndTypes")
    assert raw.startswith(b"\x03\x02id\x04name\x04tags\x06UInt32\x06String\x1dArray(LowCardinality(String))")
    rows = client.raw_query("SELECT id, name, tags FROM rb ORDER BY id", fmt="RowBinary")
    client.command("CREATE TABLE IF NOT EXISTS rb_copy AS rb")
    summary = client.raw_insert("rb_copy", ["id", "name", "tags"], insert_block=rows, fmt="RowBinary")
    assert summary.written_rows == 2
    assert client.query("SELECT * FROM rb_copy ORDER BY id").result_rows == [(1, "one", ["a", "b"]), (2, "tw'o", [])]
    assert client.raw_query("SELECT id, name FROM rb ORDER BY id", fmt="JSONEachRow").splitlines() == [
        b'{"id":1,"name":"one"}', b'{"id":2,"name":"tw\'o"}']
    assert client.raw_query("SELECT id, name FROM rb ORDER BY id", fmt="CSVWithNames") == b'"id","name"\n1,"one"\n2,"tw\'o"\n'
    status, headers, body = request(ch, "SELECT id FROM rb ORDER BY id", params={"default_format": "JSONCompactEachRow"})
    assert (status, headers["X-ClickHouse-Format"], body) == (200, "JSONCompactEachRow", b"[1]\n[2]\n")
    assert headers["Content-Type"].startswith("application/json")


def test_command_results_streams_and_data_as_the_client_expects_them(client) -> None:
    assert client.command("SELECT 1 WHERE 0") == ""  # a result set with no rows: X-ClickHouse-Format
    summary = client.command("CREATE TABLE IF NOT EXISTS cmd (a UInt8, s String) ENGINE = MergeTree ORDER BY a")
    assert summary.written_rows == 0  # a QuerySummary: no result set
    assert client.command("INSERT INTO cmd FORMAT TabSeparated", data="1\tx\n2\ty\n").written_rows == 2
    assert client.command("SELECT a, s FROM cmd ORDER BY a DESC LIMIT 1") == ["2", "y"]
    with client.query_rows_stream("SELECT number FROM numbers(150000) SETTINGS max_block_size = 10000") as stream:
        assert sum(1 for _ in stream) == 150000


def test_insert_data_after_the_query_parameter_and_in_a_chunked_body(ch: Harness, client) -> None:
    client.command("CREATE TABLE IF NOT EXISTS tsv_in (a UInt8, s String) ENGINE = MergeTree ORDER BY a")
    status, headers, _ = request(ch, "INSERT INTO tsv_in FORMAT TabSeparated", body=b"1\tone\n2\ttwo\\nlines\n")
    assert status == 200 and json.loads(headers["X-ClickHouse-Summary"])["written_rows"] == "2"
    assert "X-ClickHouse-Format" not in headers
    conn = http.client.HTTPConnection(ch.host, ch.port, timeout=30)
    auth = base64.b64encode(f"{ch.user}:{ch.password}".encode()).decode()
    conn.request("POST", "/", body=iter([b"INSERT INTO tsv_in FORMAT CSV\n", b"3,three\n", b"4,\"fo,ur\"\n"]),
                 headers={"Authorization": f"Basic {auth}"}, encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    resp.read()
    conn.close()
    assert client.query("SELECT a, s FROM tsv_in ORDER BY a").result_rows == [
        (1, "one"), (2, "two\nlines"), (3, "three"), (4, "fo,ur")]


def test_external_data_is_a_table_of_the_query(client) -> None:
    external = ExternalData(file_name="ids.csv", data=b"1,x\n2,y\n3,z\n", fmt="CSV", structure=["id UInt32", "v String"])
    result = client.query("SELECT sum(id), groupArray(v) FROM ids", external_data=external)
    assert result.result_rows == [(6, ["x", "y", "z"])]
    with pytest.raises(DatabaseError) as err:
        client.query("SELECT * FROM ids")  # it lived for one query
    assert err.value.code == 60


# -- server-side parameters ---------------------------------------------------------------

TRICKY = ["it's", "back\\slash", "new\nline", "tab\there", "quote\"double", "{braces}", "", "ünï 東京 🚀",
          "\\N", "semi;colon -- not a comment", "back`tick", "trailing\\"]


@pytest.mark.parametrize("value", TRICKY)
def test_string_parameters_arrive_exactly(client, value: str) -> None:
    assert client.query("SELECT {v:String}, length({v:String})", parameters={"v": value}).result_rows == [
        (value, len(value.encode()))]


def test_array_datetime64_and_integer_parameters(client) -> None:
    result = client.query(
        "SELECT {ids:Array(String)}, {lo:Int64}, {hi:UInt64}, toUnixTimestamp64Nano({t:DateTime64(9)}),"
        " fromUnixTimestamp64Nano({ns:Int64}) = {t:DateTime64(9)}",
        parameters={"ids": TRICKY, "lo": -(2**63), "hi": 2**64 - 1, "t": datetime(2026, 3, 1, 0, 0, 1, 500000),
                    "ns": 1_772_323_201_500_000_000})
    assert result.result_rows == [(TRICKY, -(2**63), 2**64 - 1, 1_772_323_201_500_000_000, 1)]


def test_parameters_too_long_for_a_url_travel_as_a_form(client) -> None:
    ids = [f"{i:016x}'\n" for i in range(3000)]  # far past the client's 4 KiB URL budget
    assert client.query("SELECT length({ids:Array(String)}), {ids:Array(String)}[3000]", parameters={"ids": ids}
                        ).result_rows == [(3000, ids[-1])]


def test_a_missing_parameter_is_the_servers_error(client) -> None:
    with pytest.raises(DatabaseError) as err:
        client.query("SELECT {nope:String}")
    assert err.value.code == 456 and "UNKNOWN_QUERY_PARAMETER" in str(err.value)


# -- compression --------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["lz4", "zstd", "gzip"])  # the client writes no deflate
def test_compressed_inserts_and_responses(ch: Harness, method: str) -> None:
    c = ch.client(compress=method)
    try:
        table = f"comp_{method}"
        c.command(f"CREATE TABLE IF NOT EXISTS {table} (i UInt64, s String) ENGINE = MergeTree ORDER BY i")
        rows = [[i, f"row {i} " * 20] for i in range(5000)]
        summary = c.insert(table, rows, column_names=["i", "s"])
        assert summary.written_rows == 5000
        got = c.query(f"SELECT i, s FROM {table} ORDER BY i").result_rows
        assert [list(r) for r in got] == rows
    finally:
        c.close()


@pytest.mark.parametrize("method,decode", [("gzip", gzip.decompress), ("deflate", zlib.decompress),
                                           ("zstd", None), ("lz4", None)])
def test_responses_are_compressed_only_when_asked(ch: Harness, method: str, decode) -> None:
    query = "SELECT number FROM numbers(1000) FORMAT TSV"
    plain = b"".join(b"%d\n" % i for i in range(1000))
    status, headers, body = request(ch, query, params={"enable_http_compression": "1"},
                                    headers={"Accept-Encoding": method})
    assert status == 200 and headers["Content-Encoding"] == method
    if decode is None:
        from support.clickhouse_http import decompress_body

        decode = lambda data: decompress_body(data, method)  # noqa: E731
    assert decode(body) == plain
    status, headers, body = request(ch, query, headers={"Accept-Encoding": method})
    assert "Content-Encoding" not in headers and body == plain  # enable_http_compression not set


@pytest.mark.parametrize("method", ["lz4", "zstd", "gzip", "deflate", "xz", "bz2"])
def test_request_bodies_in_every_content_encoding(ch: Harness, client, method: str) -> None:
    import bz2
    import lzma

    import lz4.frame

    from support.clickhouse_http import _zstd

    encode = {"lz4": lambda d: lz4.frame.compress(d[:20]) + lz4.frame.compress(d[20:]),  # two frames
              "zstd": lambda d: _zstd().compress(d), "gzip": gzip.compress, "deflate": zlib.compress,
              "xz": lzma.compress, "bz2": bz2.compress}[method]
    table = f"enc_{method}"
    client.command(f"CREATE TABLE IF NOT EXISTS {table} (a UInt32, s String) ENGINE = MergeTree ORDER BY a")
    body = f"INSERT INTO {table} FORMAT TSV\n".encode() + b"".join(b"%d\tv%d\n" % (i, i) for i in range(100))
    status, _, reply = request(ch, body=encode(body), headers={"Content-Encoding": method})
    assert status == 200, reply
    assert client.query(f"SELECT count(), sum(a) FROM {table}").result_rows == [(100, 4950)]
    status, headers, _ = request(ch, body=b"junk", headers={"Content-Encoding": method})
    assert status == 500 and b"Cannot decompress" in _
    status, headers, _ = request(ch, body=b"SELECT 1", headers={"Content-Encoding": "snappy"})
    assert status != 200 and headers["X-ClickHouse-Exception-Code"]


def test_the_servers_preference_picks_the_response_method(ch: Harness) -> None:
    _, headers, _ = request(ch, "SELECT 1", params={"enable_http_compression": "1"},
                            headers={"Accept-Encoding": "gzip, deflate, lz4, zstd"})
    assert headers["Content-Encoding"] == "zstd"


# -- query ids, summary, headers ----------------------------------------------------------

def test_query_ids_are_echoed(ch: Harness, client) -> None:
    result = client.query("SELECT 1", settings={"query_id": "my-query-1"})
    assert result.query_id == "my-query-1"
    assert client.command("CREATE TABLE IF NOT EXISTS qid (a UInt8) ENGINE = Memory",
                          settings={"query_id": "my-ddl-1"}).query_id() == "my-ddl-1"
    _, headers, _ = request(ch, "SELECT 1", headers={"X-ClickHouse-Query-Id": "from-header"})
    assert headers["X-ClickHouse-Query-Id"] == "from-header"
    _, headers, _ = request(ch, "SELECT 1")
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["X-ClickHouse-Query-Id"])  # generated


def test_response_headers_of_a_select(ch: Harness) -> None:
    status, headers, body = request(ch, "SELECT number FROM system.numbers LIMIT 5")
    assert status == 200 and body == b"0\n1\n2\n3\n4\n"
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert headers["Content-Type"] == "text/tab-separated-values; charset=UTF-8"
    assert headers["X-ClickHouse-Timezone"] in ("UTC", "Etc/UTC")
    assert headers["X-ClickHouse-Server-Display-Name"] == "flightlog-harness"
    summary = json.loads(headers["X-ClickHouse-Summary"])
    assert summary["result_rows"] == "5" and int(summary["read_rows"]) >= 5 and int(summary["elapsed_ns"]) > 0
    _, headers, _ = request(ch, "SELECT now()", params={"session_timezone": "Asia/Tokyo"})
    assert headers["X-ClickHouse-Timezone"] == "Asia/Tokyo"


def test_ping_root_and_unknown_paths(ch: Harness) -> None:
    assert request(ch, path="/ping", auth=())[::2] == (200, b"Ok.\n")
    assert request(ch, path="/", auth=())[::2] == (200, b"Ok.\n")
    status, _, body = request(ch, path="/nowhere", auth=())
    assert status == 404 and b"There is no handle /nowhere" in body


def test_keep_alive_and_request_framing_on_a_raw_socket(ch: Harness) -> None:
    auth = base64.b64encode(f"{ch.user}:{ch.password}".encode()).decode()
    with socket.create_connection((ch.host, ch.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        for n in (1, 2):  # two requests on one connection
            body = f"SELECT {n}".encode()
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + auth.encode()
                         + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            assert status.startswith(b"HTTP/1.1 200") and reader.read(int(headers["content-length"])) == b"%d\n" % n
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + auth.encode() + b"\r\n\r\n")
        assert reader.readline().startswith(b"HTTP/1.1 411")  # neither Content-Length nor chunked


# -- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("sql,code,name,status", [
    ("SELECT * FROM no_such_table", 60, "UNKNOWN_TABLE", 404),
    ("SELEC 1", 62, "SYNTAX_ERROR", 400),
    ("SELECT no_such_function(1)", 46, "UNKNOWN_FUNCTION", 404),
    ("SELECT * FROM no_such_db.t", 81, "UNKNOWN_DATABASE", 404),
    ("SELECT throwIf(1, 'boom')", 395, "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO", 500),
    ("SELECT 1; SELECT 2", 62, "SYNTAX_ERROR", 400),
    ("SELECT toUInt8('x')", 6, "CANNOT_PARSE_TEXT", 400),
])
def test_errors_in_the_servers_format_and_status(ch: Harness, sql: str, code: int, name: str, status: int) -> None:
    got, headers, body = request(ch, sql)
    assert got == status and headers["X-ClickHouse-Exception-Code"] == str(code)
    match = ERROR_BODY.match(body.decode())
    assert match and match.group(1) == str(code) and match.group(3) == name, body
    assert headers["X-ClickHouse-Query-Id"]


def test_an_engine_error_is_a_database_error_and_the_harness_lives_on(ch: Harness, client) -> None:
    with pytest.raises(DatabaseError) as err:
        client.query("SELECT * FROM no_such_table")
    assert err.value.code == 60 and "UNKNOWN_TABLE" in str(err.value)
    client.command("CREATE TABLE IF NOT EXISTS typed (a UInt8) ENGINE = MergeTree ORDER BY a")
    status, _, body = request(ch, "INSERT INTO typed FORMAT Native", body=b"\x01\x05\x01a\x05UInt8garbage")
    assert status == 500 and b"Code: " in body
    with pytest.raises(DatabaseError) as err:
        client.command("INSERT INTO typed VALUES ('not a number')")
    assert err.value.code in (6, 27, 53, 62)
    assert client.ping() and client.command("SELECT count() FROM typed") == 0


def test_settings_reach_the_engine_for_one_query(ch: Harness, client) -> None:
    with pytest.raises(DatabaseError) as err:
        client.query("SELECT number FROM numbers(10)", settings={"max_result_rows": 3, "result_overflow_mode": "throw"})
    assert err.value.code == 396
    assert len(client.query("SELECT number FROM numbers(10)").result_rows) == 10  # not sticky
    status, headers, _ = request(ch, "SELECT 1", params={"no_such_setting": "1"})
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "115"
    _, _, quoted = request(ch, "SELECT toUInt64(1) AS n FORMAT JSONEachRow")
    _, _, bare = request(ch, "SELECT toUInt64(1) AS n FORMAT JSONEachRow",
                         params={"output_format_json_quote_64bit_integers": "1"})
    assert (quoted, bare) == (b'{"n":1}\n', b'{"n":"1"}\n')
    status, headers, _ = request(ch, "SELECT sleepEachRow(0.3) FROM numbers(3) SETTINGS max_block_size = 1",
                                 params={"max_execution_time": "0.2", "timeout_overflow_mode": "throw"})
    assert status == 408 and headers["X-ClickHouse-Exception-Code"] == "159"


def test_http_layer_settings_are_settings_too(client) -> None:
    # clickhouse-connect sends enable_http_compression=1 with every query it wants compressed.
    assert client.query("SELECT getSetting('enable_http_compression'), getSetting('date_time_input_format')"
                        ).result_rows == [(True, "best_effort")]


def test_date_time_input_format_is_a_per_request_setting(ch: Harness, client) -> None:
    client.command("CREATE TABLE IF NOT EXISTS besteffort (t DateTime('UTC')) ENGINE = MergeTree ORDER BY t")
    client.command("INSERT INTO besteffort VALUES ('2026-03-01T10:00:00Z')")  # the client sends best_effort
    status, _, body = request(ch, "INSERT INTO besteffort VALUES ('2026-03-01T11:00:00Z')")
    assert status != 200 and b"Code: " in body  # the engine's default, basic, refuses it
    assert client.query("SELECT toString(t) FROM besteffort").result_rows == [("2026-03-01 10:00:00",)]


def test_get_requests_are_readonly(ch: Harness) -> None:
    status, headers, _ = request(ch, "CREATE TABLE ro_get (a UInt8) ENGINE = Memory", method="GET")
    assert headers["X-ClickHouse-Exception-Code"] == "164" and status == 500
    assert request(ch, "SELECT 1", method="GET")[::2] == (200, b"1\n")


# -- authentication -----------------------------------------------------------------------

def test_wrong_password_is_refused_by_the_client(ch: Harness) -> None:
    with pytest.raises(DatabaseError) as err:
        clickhouse_connect.get_client(host=ch.host, port=ch.port, username=ch.user, password="wrong")
    assert err.value.code == 516 and "AUTHENTICATION_FAILED" in str(err.value)
    with pytest.raises(DatabaseError) as err:
        clickhouse_connect.get_client(host=ch.host, port=ch.port, username="intruder", password=ch.password)
    assert err.value.code == 516


@pytest.mark.parametrize("how", ["basic", "headers", "url"])
def test_every_way_of_sending_credentials(ch: Harness, how: str) -> None:
    def send(user: str, password: str) -> tuple[int, dict, bytes]:
        if how == "basic":
            return request(ch, "SELECT 1", auth=(user, password))
        if how == "headers":
            return request(ch, "SELECT 1", auth=(), headers={"X-ClickHouse-User": user, "X-ClickHouse-Key": password})
        return request(ch, "SELECT 1", auth=(), params={"user": user, "password": password})

    assert send(ch.user, ch.password)[::2] == (200, b"1\n")
    status, headers, body = send(ch.user, ch.password + "x")
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "516"
    assert ERROR_BODY.match(body.decode()).group(3) == "AUTHENTICATION_FAILED"


def test_no_credentials_is_the_default_user_and_refused(ch: Harness) -> None:
    status, headers, body = request(ch, "SELECT 1", auth=())
    assert status == 403 and b"default: Authentication failed" in body


# -- sessions -----------------------------------------------------------------------------

def test_a_session_keeps_settings_temporary_tables_and_database(ch: Harness) -> None:
    c = ch.client(session_id="session-one")
    other = ch.client(session_id="session-two")
    try:
        c.command("CREATE TEMPORARY TABLE scratch (x UInt8)")
        c.command("INSERT INTO scratch VALUES (1), (2)")
        c.command("SET max_threads = 1")
        assert c.command("SELECT count() FROM scratch") == 2
        assert c.command("SELECT getSetting('max_threads')") == 1
        # A per-query setting applies to that query only, then the session's value is back.
        assert c.command("SELECT getSetting('max_threads')", settings={"max_threads": 3}) == 3
        assert c.command("SELECT getSetting('max_threads')") == 1
        with pytest.raises(DatabaseError) as err:
            other.command("SELECT count() FROM scratch")
        assert err.value.code == 60
        assert other.command("SELECT getSetting('max_threads')") != 1
    finally:
        c.close()
        other.close()
    status, headers, _ = request(ch, "SELECT 1", params={"session_id": "never-seen", "session_check": "1"})
    assert headers["X-ClickHouse-Exception-Code"] == "372"


def test_a_session_connection_is_usable_after_failures(ch: Harness) -> None:
    c = ch.client(session_id="after-failures")
    try:
        c.command("CREATE TEMPORARY TABLE keep (x UInt8)")
        with pytest.raises(DatabaseError) as err:  # fails in a late block, mid-stream in the engine
            c.query("SELECT throwIf(number = 150000) FROM numbers(200000) SETTINGS max_block_size = 1000")
        assert err.value.code == 395
        status, _, _ = request(ch, "INSERT INTO keep FORMAT Native", body=b"\x01\x05\x01x\x05UInt8\x01",
                               params={"session_id": "after-failures"})
        assert status != 200
        status, _, _ = request(ch, "SELECT 1", params={"session_id": "after-failures", "no_such_setting": "1"})
        assert status == 404
        c.command("INSERT INTO keep VALUES (1)")
        assert c.command("SELECT count() FROM keep") == 1
    finally:
        c.close()


@contextmanager
def long_query(ch: Harness, params: dict) -> Iterator[list]:
    """Run ``SELECT sleep(2)`` with ``params`` in a thread (again if a probe held the id/session first)."""
    outcome: list = []

    def run() -> None:
        while True:
            status, headers, body = request(ch, "SELECT sleep(2)", params=params)
            if headers.get("X-ClickHouse-Exception-Code") not in ("216", "373"):
                outcome.append((status, body))
                return

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield outcome
    finally:
        thread.join(60)
    assert outcome == [(200, b"0\n")]


def refusal(ch: Harness, params: dict) -> str | None:
    status, headers, _ = request(ch, "SELECT 1", params=params)
    return headers.get("X-ClickHouse-Exception-Code") if status != 200 else None


def test_a_session_runs_one_query_at_a_time(ch: Harness) -> None:
    params = {"session_id": "busy-session"}
    with long_query(ch, params):
        assert wait_until(lambda: refusal(ch, params), timeout=20, interval=0.02,
                          what="a refusal while the session is busy") == "373"  # SESSION_IS_LOCKED
    assert request(ch, "SELECT 1", params=params)[::2] == (200, b"1\n")


def test_a_running_query_id_cannot_be_reused(ch: Harness) -> None:
    params = {"query_id": "the-one-and-only"}
    with long_query(ch, params):
        assert wait_until(lambda: refusal(ch, params), timeout=20, interval=0.02,
                          what="a refusal of the running id") == "216"  # QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING
    assert request(ch, "SELECT 1", params=params)[::2] == (200, b"1\n")


# -- concurrency, crash and restart ---------------------------------------------------------

def test_concurrent_clients_write_and_read(ch: Harness, client) -> None:
    client.command("CREATE TABLE IF NOT EXISTS concurrent (worker UInt8, i UInt32, s String)"
                   " ENGINE = MergeTree ORDER BY (worker, i)")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            c = ch.client()
            for batch in range(5):
                c.insert("concurrent", [[worker, batch * 100 + i, f"w{worker}"] for i in range(100)],
                         column_names=["worker", "i", "s"])
                count = c.command("SELECT count() FROM concurrent WHERE worker = {w:UInt8}", parameters={"w": worker})
                assert count == (batch + 1) * 100
            c.close()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert client.query("SELECT worker, count(), uniqExact(i) FROM concurrent GROUP BY worker ORDER BY worker"
                        ).result_rows == [(w, 500, 500) for w in range(6)]


def test_kill_9_mid_load_and_restart_keeps_every_acknowledged_insert(tmp_path: Path) -> None:
    harness = start_harness(tmp_path / "crash")
    try:
        c = harness.client()
        c.command("CREATE TABLE load (batch UInt32, i UInt32, pad String) ENGINE = MergeTree ORDER BY (batch, i)")
        acked: list[int] = []
        failed: list[BaseException] = []

        def load() -> None:
            writer = harness.client()
            batch = 0
            while True:
                try:
                    writer.insert("load", [[batch, i, "x" * 100] for i in range(500)], column_names=["batch", "i", "pad"])
                except Exception as exc:  # the kill lands here
                    failed.append(exc)
                    return
                acked.append(batch)
                batch += 1

        loader = threading.Thread(target=load)
        loader.start()
        wait_until(lambda: len(acked) >= 5 or not loader.is_alive(), timeout=60, interval=0.02,
                   what="the load to be under way")
        assert len(acked) >= 5, failed
        harness.kill()
        loader.join(60)
        assert failed and not loader.is_alive()
        harness.start()  # same directory, same port
        c = harness.client()
        batches = dict(c.query("SELECT batch, count() FROM load GROUP BY batch").result_rows)
        assert set(acked) <= set(batches)  # nothing acknowledged is lost
        assert set(batches) - set(acked) <= {len(acked)}  # at most the batch in flight landed
        assert set(batches.values()) == {500}  # and every batch whole
        c.insert("load", [[10_000, 0, ""]], column_names=["batch", "i", "pad"])
        assert c.command("SELECT count() FROM load WHERE batch = 10000") == 1
        harness.restart()  # a clean restart too
        assert harness.client().command("SELECT count() FROM load") == 500 * len(batches) + 1
    finally:
        harness.stop()
