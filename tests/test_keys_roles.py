"""Projects, keys and roles: each role against each endpoint; no key reads another project."""

from __future__ import annotations

import httpx
import pytest

from conftest import RunningCollector, error_message, fixture_bytes, fixture_trace_id

PB = "application/x-protobuf"
GENAI_TRACE = fixture_trace_id("otel-genai-openai-v2")


def _create(c: RunningCollector, role: str, project: str | None = None, key: str | None = None) -> httpx.Response:
    body = {"role": role, "name": f"test {role}"}
    if project:
        body["project"] = project
    return httpx.post(c.url + "/api/admin/keys", json=body,
                      headers={"Authorization": f"Bearer {key or c.admin_key}"}, timeout=30)


@pytest.fixture(scope="module")
def keyed(shared_collector: RunningCollector) -> dict[str, str]:
    keys = {}
    for role in ("ingest", "engineer", "auditor", "admin"):
        resp = _create(shared_collector, role, project="team-b")
        assert resp.status_code == 200, resp.text
        keys[role] = resp.json()["key"]
    return keys


# (role, method, path, expected status) — 200/404 mean "allowed", 403 "refused by role".
MATRIX = [
    ("ingest", "POST", "/v1/traces", 200), ("engineer", "POST", "/v1/traces", 403),
    ("auditor", "POST", "/v1/traces", 403), ("admin", "POST", "/v1/traces", 200),
    ("ingest", "GET", "/api/spans", 403), ("engineer", "GET", "/api/spans", 200),
    ("auditor", "GET", "/api/spans", 200), ("admin", "GET", "/api/spans", 200),
    ("ingest", "GET", f"/api/traces/{GENAI_TRACE}", 403), ("engineer", "GET", f"/api/traces/{'0' * 31}1", 404),
    ("ingest", "GET", "/api/cost", 403), ("auditor", "GET", "/api/cost", 200),
    ("ingest", "GET", "/api/facets", 403), ("engineer", "GET", "/api/facets", 200),
    ("ingest", "GET", "/metrics", 403), ("engineer", "GET", "/metrics", 200),
    ("ingest", "GET", "/api/admin/keys", 403), ("engineer", "GET", "/api/admin/keys", 403),
    ("auditor", "GET", "/api/admin/keys", 403), ("admin", "GET", "/api/admin/keys", 200),
]


@pytest.mark.parametrize("role,method,path,status", MATRIX, ids=[f"{m[0]}-{m[1]}-{m[2]}" for m in MATRIX])
def test_role_matrix(shared_collector: RunningCollector, keyed: dict[str, str], role, method, path, status) -> None:
    headers = {"Authorization": f"Bearer {keyed[role]}"}
    if method == "POST":
        resp = httpx.post(shared_collector.url + path, content=fixture_bytes("otel-genai-openai-v2.pb"),
                          headers={**headers, "Content-Type": PB}, timeout=30)
    else:
        resp = httpx.get(shared_collector.url + path, headers=headers, timeout=30)
    assert resp.status_code == status, resp.text[:300]
    if status == 403:
        assert role in error_message(resp)


def test_a_key_never_reads_another_projects_data(shared_collector: RunningCollector, keyed: dict[str, str]) -> None:
    c = shared_collector
    other_trace = fixture_trace_id("openinference-openai")
    assert c.post("/v1/traces", fixture_bytes("openinference-openai.pb"), PB, key=keyed["ingest"]).status_code == 200
    assert c.post("/v1/traces", fixture_bytes("otel-genai-openai-v2.pb"), PB).status_code == 200  # default project
    c.drain()
    team_b = {"Authorization": f"Bearer {keyed['engineer']}"}
    assert httpx.get(f"{c.url}/api/traces/{other_trace}", headers=team_b).status_code == 200
    assert c.get(f"/api/traces/{other_trace}").status_code == 404  # default project's read key
    b_traces = {i["trace_id"] for i in httpx.get(f"{c.url}/api/spans", headers=team_b, params={"limit": 500}).json()["items"]}
    a_traces = {i["trace_id"] for i in c.api("/api/spans", limit=500)["items"]}
    assert other_trace in b_traces and other_trace not in a_traces
    assert GENAI_TRACE in a_traces
    b_cost = httpx.get(f"{c.url}/api/cost", headers=team_b).json()["rows"]
    assert sum(r["spans"] for r in b_cost) == len(httpx.get(
        f"{c.url}/api/spans", headers=team_b, params={"limit": 500}).json()["items"])


def test_a_project_admin_cannot_manage_other_projects(shared_collector: RunningCollector, keyed) -> None:
    resp = _create(shared_collector, "engineer", project="default", key=keyed["admin"])
    assert resp.status_code == 403 and "may not manage" in resp.json()["error"]
    listed = httpx.get(shared_collector.url + "/api/admin/keys",
                       headers={"Authorization": f"Bearer {keyed['admin']}"}).json()["keys"]
    assert {k["project"] for k in listed} == {"team-b"}


def test_a_revoked_key_stops_working(shared_collector: RunningCollector) -> None:
    c = shared_collector
    created = _create(c, "engineer").json()
    assert c.get("/api/spans", key=created["key"]).status_code == 200
    resp = httpx.delete(f"{c.url}/api/admin/keys/{created['key_id']}", headers={"Authorization": f"Bearer {c.admin_key}"})
    assert resp.status_code == 200 and resp.json()["revoked"] is True
    refused = c.get("/api/spans", key=created["key"])
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]


def test_keys_are_stored_hashed(shared_collector: RunningCollector) -> None:
    created = _create(shared_collector, "ingest").json()
    store_files = b"".join(p.read_bytes() for p in (shared_collector.data_dir / "store").rglob("*") if p.is_file())
    assert created["key"].encode() not in store_files


def test_bad_role_is_refused_with_the_allowed_list(shared_collector: RunningCollector) -> None:
    resp = _create(shared_collector, "superuser")
    assert resp.status_code == 400 and "ingest, engineer, auditor, admin" in resp.json()["error"]


def test_keys_cli_manages_keys_through_the_admin_api(shared_collector: RunningCollector) -> None:
    import json
    import subprocess
    import sys

    from conftest import clean_env

    base = [sys.executable, "-m", "flightlog.collector.cli", "keys"]
    remote = ["--url", shared_collector.url, "--admin-key", shared_collector.admin_key]
    out = subprocess.run(base + ["create", "--project", "cli-proj", "--role", "engineer", *remote],
                         capture_output=True, text=True, env=clean_env(), check=True).stdout
    created = json.loads(out)
    assert created["project"] == "cli-proj" and created["key"].startswith("fl_engineer_")
    listing = subprocess.run(base + ["list", "--project", "cli-proj", *remote], capture_output=True, text=True,
                             env=clean_env(), check=True).stdout
    assert created["key_id"] in listing and "active" in listing
    subprocess.run(base + ["revoke", created["key_id"], *remote], env=clean_env(), check=True, capture_output=True)
    assert shared_collector.get("/api/spans", key=created["key"]).status_code == 401
    bad = subprocess.run(base + ["list", "--url", shared_collector.url, "--admin-key", "nope"],
                         capture_output=True, text=True, env=clean_env())
    assert bad.returncode != 0 and "401" in bad.stderr
