"""``GET /api/whoami`` (collector/api/control.py): any valid key learns who it is — its id, name,
role, permissions and project, never its secret — so the UI can say who a person signed in as
and whether they may decide approvals or pause agents."""

from __future__ import annotations

import httpx

from flightlog.collector.api import models
from support.control_ui import auth, new_key


def _whoami(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{url}/api/whoami", headers=headers, timeout=30)


def test_every_role_learns_its_name_role_permissions_and_project(collector) -> None:
    dana = new_key(collector.url, collector.admin_key, "engineer", "Dana Reviewer", ["approve"])
    keys = {"ingest": collector.ingest_key, "engineer": collector.read_key, "admin": collector.admin_key,
            "approver": dana}
    answers = {}
    for label, key in keys.items():
        resp = _whoami(collector.url, auth(key))
        assert resp.status_code == 200, resp.text
        models.WhoAmI.model_validate_json(resp.content, strict=True)
        answers[label] = resp.json()
        assert key not in resp.text, "the answer never holds the secret"
    assert answers["approver"]["name"] == "Dana Reviewer" and answers["approver"]["permissions"] == ["approve"]
    assert answers["approver"]["role"] == "engineer" and answers["approver"]["project"] == "default"
    assert [answers[r]["role"] for r in ("ingest", "engineer", "admin")] == ["ingest", "engineer", "admin"]
    assert answers["engineer"]["permissions"] == []
    assert len({a["key_id"] for a in answers.values()}) == 4
    assert _whoami(collector.url, {"x-api-key": dana}).json() == answers["approver"], "x-api-key works too"


def test_no_key_or_an_unknown_or_revoked_key_is_401(collector) -> None:
    assert _whoami(collector.url, {}).status_code == 401
    assert _whoami(collector.url, auth("fl_engineer_not-a-real-key")).status_code == 401
    resp = httpx.post(f"{collector.url}/api/admin/keys", headers=auth(collector.admin_key), timeout=30,
                      json={"role": "engineer", "name": "Leaving"})
    created = resp.json()
    httpx.delete(f"{collector.url}/api/admin/keys/{created['key_id']}", headers=auth(collector.admin_key), timeout=30)
    revoked = _whoami(collector.url, auth(created["key"]))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
