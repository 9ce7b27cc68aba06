"""Datasets end to end against a live collector: the HTTP API (roles, versions, items made from a
stored trace, exports) and the ``flightlog datasets`` commands CI pipelines call, with JSONL and
CSV round trips."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import RunningCollector, clean_env, start_collector
from flightlog.collector import demo


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    running = start_collector(tmp_path_factory.mktemp("datasets"))
    try:
        for request in demo.build_demo_requests():
            assert running.post("/v1/traces", request.SerializeToString(), "application/x-protobuf").status_code == 200
        running.drain()
        auditor = httpx.post(running.url + "/api/admin/keys", json={"role": "auditor", "name": "Aud"}, timeout=30,
                             headers={"Authorization": f"Bearer {running.admin_key}"}).json()["key"]
        yield {"c": running, "keys": {"engineer": running.read_key, "admin": running.admin_key,
                                      "ingest": running.ingest_key, "auditor": auditor}}
    finally:
        running.stop()


def call(stack: dict[str, Any], method: str, path: str, role: str = "engineer", **kw: Any) -> httpx.Response:
    return httpx.request(method, stack["c"].url + path, headers={"Authorization": f"Bearer {stack['keys'][role]}"},
                         timeout=60, **kw)


def cli(collector: RunningCollector, *args: str, key: str | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "FLIGHTLOG_API_KEY": key or collector.read_key}
    return subprocess.run([sys.executable, "-m", "flightlog.collector.cli", *args, "--url", collector.url],
                          capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_create_add_and_read_by_version(stack: dict[str, Any]) -> None:
    made = call(stack, "POST", "/api/datasets", json={"name": "api-basics", "description": "refunds"})
    assert made.status_code == 200, made.text
    assert (made.json()["version"], made.json()["created_by"]) == (0, "dev read key (flightlog up)")
    again = call(stack, "POST", "/api/datasets", json={"name": "api-basics"})
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    first = call(stack, "POST", "/api/datasets/api-basics/items", json={"items": [
        {"input": {"order_id": "A1"}, "expected": {"amount": 49.5}, "metadata": {"case": "euro"}},
        {"input": "no expected output"}]}).json()
    assert (first["version"], first["added"], len(first["item_ids"])) == (2, 2, 2)
    second = call(stack, "POST", "/api/datasets/api-basics/items", json={"items": [{"input": 3, "expected": None}]})
    assert second.json()["version"] == 3
    # Version 2 is the first two items, now and later: items never change.
    v2 = call(stack, "GET", "/api/datasets/api-basics/items", params={"version": 2}).json()
    assert [i["input"] for i in v2["items"]] == [{"order_id": "A1"}, "no expected output"]
    assert (v2["version"], v2["total"]) == (2, 2)
    assert [(i["has_expected"], i["expected"]) for i in v2["items"]] == [(True, {"amount": 49.5}), (False, None)]
    assert v2["items"][0]["metadata"] == {"case": "euro"} and v2["items"][0]["seq"] == 1
    everything = call(stack, "GET", "/api/datasets/api-basics/items", role="auditor").json()
    assert [i["seq"] for i in everything["items"]] == [1, 2, 3]
    shown = call(stack, "GET", "/api/datasets/api-basics").json()
    assert (shown["version"], shown["items"], shown["description"]) == (3, 3, "refunds") and shown["last_added_at"]
    listed = call(stack, "GET", "/api/datasets").json()["datasets"]
    assert "api-basics" in [d["name"] for d in listed]


@pytest.mark.parametrize(("role", "status"), [("auditor", 403), ("ingest", 403)])
def test_only_engineers_and_admins_write(stack: dict[str, Any], role: str, status: int) -> None:
    assert call(stack, "POST", "/api/datasets", role=role, json={"name": f"by-{role}"}).status_code == status
    call(stack, "POST", "/api/datasets", role="admin", json={"name": f"owned-{role}"})
    refused = call(stack, "POST", f"/api/datasets/owned-{role}/items", role=role, json={"items": [{"input": 1}]})
    assert refused.status_code == status and "may not use this endpoint" in refused.json()["error"]
    assert call(stack, "GET", "/api/datasets", role="ingest").status_code == 403  # reads need a read key
    assert httpx.get(stack["c"].url + "/api/datasets", timeout=30).status_code == 401


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/api/datasets", {"name": "bad name!"}, 400, "name"),
    ("POST", "/api/datasets/nope/items", {"items": [{"input": 1}]}, 404, "no dataset 'nope'"),
    ("POST", "/api/datasets/bad-input/items", {"items": []}, 400, "items"),
    ("POST", "/api/datasets/bad-input/items", {"items": [{"expected": 1}]}, 400, "input"),
    ("POST", "/api/datasets/bad-input/items", {"items": [{"input": 1, "metadata": [1]}]}, 400, "metadata"),
    ("POST", "/api/datasets/bad-input/items", {"items": [{"input": 1, "source_trace_id": "xyz"}]}, 400, "32 hex"),
    ("GET", "/api/datasets/bad-input/items?version=5", None, 400, "version 5 does not exist"),
    ("GET", "/api/datasets/bad-input/export?format=xml", None, 400, "format"),
    ("POST", "/api/datasets/bad-input/items/from-trace", {"trace_id": "ab" * 16}, 404, "no trace"),
    ("POST", "/api/datasets/bad-input/items/from-trace",
     {"trace_id": demo.INCIDENT_TRACE_ID, "span_id": "00" * 8}, 404, "has no span"),
])
def test_bad_input_is_a_4xx_that_says_what_is_wrong(stack: dict[str, Any], method: str, path: str, body: Any,
                                                     status: int, message: str) -> None:
    call(stack, "POST", "/api/datasets", json={"name": "bad-input"})
    resp = call(stack, method, path, json=body)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]


def test_an_item_from_a_production_trace(stack: dict[str, Any]) -> None:
    """The incident trace becomes an item: input from its run, expected from its output; a tool
    span gives its arguments and result."""
    call(stack, "POST", "/api/datasets", json={"name": "from-prod"})
    trace = call(stack, "GET", f"/api/traces/{demo.INCIDENT_TRACE_ID}").json()
    run = next(s for s in trace["spans"] if s["span_type"] == "agent")
    tool = next(s for s in trace["spans"] if s["span_type"] == "tool" and s["tool_args"])
    added = call(stack, "POST", "/api/datasets/from-prod/items/from-trace",
                 json={"trace_id": demo.INCIDENT_TRACE_ID, "metadata": {"incident": "refund in cents"}})
    assert added.status_code == 200, added.text
    call(stack, "POST", "/api/datasets/from-prod/items/from-trace",
         json={"trace_id": demo.INCIDENT_TRACE_ID.upper(), "span_id": tool["span_id"]})
    items = call(stack, "GET", "/api/datasets/from-prod/items").json()["items"]
    assert items[0]["input"] == _json_or_text(run["input_text"])
    assert items[0]["source_trace_id"] == demo.INCIDENT_TRACE_ID and items[0]["source_span_id"] == run["span_id"]
    assert items[0]["metadata"]["incident"] == "refund in cents"
    assert items[0]["metadata"]["agent"] == demo.INCIDENT_AGENT
    assert items[1]["input"] == json.loads(tool["tool_args"])
    assert items[1]["expected"] == _json_or_text(tool["tool_result"]) and items[1]["metadata"]["tool"] == tool["tool_name"]


def test_items_from_several_spans_are_added_all_at_once_or_not_at_all(stack: dict[str, Any]) -> None:
    """Spans of two traces become one item each, in the order given, in one new version; a
    request naming one span that does not exist adds nothing and says which it was."""
    call(stack, "POST", "/api/datasets", json={"name": "from-spans"})
    traces = call(stack, "GET", "/api/traces", params={"limit": 2}).json()["items"]
    spans = []
    for trace in traces:  # the first two spans with an input of each run
        stored = call(stack, "GET", f"/api/traces/{trace['trace_id']}").json()["spans"]
        spans += [s for s in stored if s["input_text"] or s["tool_args"]][:2]
    assert len(spans) == 4, "the demo's two newest runs should have two spans with input each"
    refs = [{"trace_id": s["trace_id"], "span_id": s["span_id"]} for s in spans]
    missing = {"trace_id": spans[0]["trace_id"], "span_id": "00" * 8}
    refused = call(stack, "POST", "/api/datasets/from-spans/items/from-spans",
                   json={"spans": [*refs[:2], missing]})
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"] == (f"spans[2]: trace {spans[0]['trace_id']} has no span {'00' * 8}; "
                                       "nothing was added")
    assert call(stack, "GET", "/api/datasets/from-spans").json()["version"] == 0
    added = call(stack, "POST", "/api/datasets/from-spans/items/from-spans",
                 json={"spans": refs, "metadata": {"picked": "search"}})
    assert added.status_code == 200, added.text
    assert added.json()["version"] == 4 and added.json()["added"] == 4
    items = call(stack, "GET", "/api/datasets/from-spans/items").json()["items"]
    assert [(i["source_trace_id"], i["source_span_id"]) for i in items] == [(r["trace_id"], r["span_id"]) for r in refs]
    assert all(i["metadata"]["picked"] == "search" for i in items)
    bad_id = call(stack, "POST", "/api/datasets/from-spans/items/from-spans",
                  json={"spans": [refs[0], {"trace_id": "zz" * 16, "span_id": refs[0]["span_id"]}]})
    assert bad_id.status_code == 400 and bad_id.json()["error"].startswith("spans[1]: trace_id must be 32 hex"), bad_id.text
    assert call(stack, "GET", "/api/datasets/from-spans").json()["version"] == 4
    too_many = call(stack, "POST", "/api/datasets/from-spans/items/from-spans", json={"spans": [refs[0]] * 201})
    assert too_many.status_code == 400 and "spans" in too_many.json()["error"], too_many.text


def test_an_item_from_an_llm_call_holds_its_messages_and_the_answer_without_its_role(stack: dict[str, Any]) -> None:
    """An LLM span's texts are stored as `role: text` lines; its item holds the messages as
    input and the assistant's answer alone as expected (here JSON, kept as JSON)."""
    call(stack, "POST", "/api/datasets", json={"name": "from-llm"})
    trace = call(stack, "GET", f"/api/traces/{demo.INCIDENT_TRACE_ID}").json()
    classify = next(s for s in trace["spans"] if s["span_type"] == "llm" and '"intent"' in s["output_text"])
    added = call(stack, "POST", "/api/datasets/from-llm/items/from-trace",
                 json={"trace_id": demo.INCIDENT_TRACE_ID, "span_id": classify["span_id"]})
    assert added.status_code == 200, added.text
    (item,) = call(stack, "GET", "/api/datasets/from-llm/items").json()["items"]
    assert [m["role"] for m in item["input"]] == ["user"]
    assert item["input"][0]["content"].startswith("Classify the customer's message")
    assert "user: " + item["input"][0]["content"] == classify["input_text"]
    assert item["expected"] == {"intent": "refund_request", "order_id": "88123", "sentiment": "negative"}
    assert item["metadata"]["model"] == classify["request_model"]


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


ITEMS = [
    {"input": {"order_id": "A1", "price": 49.5}, "expected": {"amount": 49.5}, "metadata": {"case": "euro"}},
    {"input": "plain text, with a comma and \"quotes\"\nand a newline", "metadata": {}},
    {"input": [1, 2.5, None, True], "metadata": {"tags": ["a", "b"]}},
    {"input": {"unicode": "Zoë € 🚀"}, "expected": "ok", "metadata": {}},
]


def test_cli_create_add_list_and_the_exact_command_names(stack: dict[str, Any], tmp_path: Path) -> None:
    c = stack["c"]
    done = cli(c, "datasets", "create", "cli-made")
    assert done.returncode == 0 and "created" in done.stdout, done.stderr
    assert cli(c, "datasets", "create", "cli-made").returncode == 1  # exists: says so, fails
    done = cli(c, "datasets", "add", "cli-made", "--input", '{"q": 1}', "--expected", '"a"', "--metadata", '{"m": 2}')
    assert done.returncode == 0 and "version 1" in done.stdout, done.stderr
    done = cli(c, "datasets", "add", "cli-made", "--from-trace", demo.INCIDENT_TRACE_ID)
    assert done.returncode == 0 and "version 2" in done.stdout, done.stderr
    bad = cli(c, "datasets", "add", "cli-made", "--input", "{not json")
    assert bad.returncode == 2 and "not JSON" in bad.stderr
    refused = cli(c, "datasets", "add", "cli-made", "--input", "1", key=stack["keys"]["auditor"])
    assert refused.returncode == 1 and "HTTP 403" in refused.stderr
    listed = cli(c, "datasets", "list", "--json")
    assert [(d["version"], d["items"]) for d in json.loads(listed.stdout) if d["name"] == "cli-made"] == [(2, 2)]
    text = cli(c, "datasets", "list").stdout
    assert "cli-made  version 2" in text
    items = call(stack, "GET", "/api/datasets/cli-made/items").json()["items"]
    assert (items[0]["input"], items[0]["expected"], items[0]["metadata"]) == ({"q": 1}, "a", {"m": 2})
    assert items[1]["source_trace_id"] == demo.INCIDENT_TRACE_ID


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_import_export_round_trip(stack: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    c = stack["c"]
    source = tmp_path / f"items.{fmt}"
    if fmt == "jsonl":
        source.write_text("".join(json.dumps(i) + "\n" for i in ITEMS) + "\n", encoding="utf-8")
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["input", "expected", "metadata"])
        for i in ITEMS:
            writer.writerow([json.dumps(i["input"]), json.dumps(i["expected"]) if "expected" in i else "",
                             json.dumps(i["metadata"])])
        source.write_text(buffer.getvalue(), encoding="utf-8")
    name = f"round-{fmt}"
    assert cli(c, "datasets", "create", name).returncode == 0
    done = cli(c, "datasets", "import", name, str(source))
    assert done.returncode == 0 and "4 items imported" in done.stdout, done.stderr
    out = tmp_path / f"out.{fmt}"
    done = cli(c, "datasets", "export", name, "--format", fmt, "--out", str(out))
    assert done.returncode == 0, done.stderr
    exported = _read(out, fmt)
    assert [{k: v for k, v in e.items() if k != "id"} for e in exported] == ITEMS
    # The export imports back into another dataset as the same items (ids aside).
    assert cli(c, "datasets", "create", f"{name}-copy").returncode == 0
    assert cli(c, "datasets", "import", f"{name}-copy", str(out)).returncode == 0
    stdout = cli(c, "datasets", "export", f"{name}-copy", "--format", fmt)
    copy_file = tmp_path / f"copy.{fmt}"
    copy_file.write_text(stdout.stdout, encoding="utf-8")
    assert [{k: v for k, v in e.items() if k != "id"} for e in _read(copy_file, fmt)] == ITEMS
    # A version is fixed: version 2 exports the first two items, also after more were added.
    assert cli(c, "datasets", "add", name, "--input", '"later"').returncode == 0
    older = cli(c, "datasets", "export", name, "--format", fmt, "--version", "2")
    older_file = tmp_path / f"v2.{fmt}"
    older_file.write_text(older.stdout, encoding="utf-8")
    assert [{k: v for k, v in e.items() if k != "id"} for e in _read(older_file, fmt)] == ITEMS[:2]


def _read(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = []
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        item = {"id": row["id"], "input": json.loads(row["input"])}
        if row["expected"] != "":
            item["expected"] = json.loads(row["expected"])
        item["metadata"] = json.loads(row["metadata"])
        rows.append(item)
    return rows


def test_import_says_which_line_is_wrong(stack: dict[str, Any], tmp_path: Path) -> None:
    c = stack["c"]
    assert cli(c, "datasets", "create", "bad-file").returncode == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": 1}\n{"input": 2, "metadata": "x"}\n', encoding="utf-8")
    done = cli(c, "datasets", "import", "bad-file", str(bad))
    assert done.returncode == 1 and "bad.jsonl:2" in done.stderr and "metadata" in done.stderr
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text('input,expected\n"{""a"": 1}",{oops\n', encoding="utf-8")
    done = cli(c, "datasets", "import", "bad-file", str(bad_csv))
    assert done.returncode == 1 and "bad.csv:2" in done.stderr and "expected" in done.stderr
    assert call(stack, "GET", "/api/datasets/bad-file").json()["version"] == 0  # nothing half-imported


def test_export_over_http_names_the_version(stack: dict[str, Any]) -> None:
    call(stack, "POST", "/api/datasets", json={"name": "http-export"})
    call(stack, "POST", "/api/datasets/http-export/items", json={"items": [{"input": n} for n in range(3)]})
    resp = call(stack, "GET", "/api/datasets/http-export/export", role="auditor", params={"format": "csv"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["x-flightlog-dataset-version"] == "3"
    assert 'filename="http-export-v3.csv"' in resp.headers["content-disposition"]
    assert [r["input"] for r in csv.DictReader(io.StringIO(resp.text))] == ["0", "1", "2"]
