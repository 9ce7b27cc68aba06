"""Tests for the Audit and Reviews pages (ui/views/audit.py, ui/views/reviews.py) with
Streamlit's AppTest against the seeded collector, and for their client methods."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from flightlog.ui.client import ApiClient, ApiError

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")


@pytest.fixture
def admin_env(seeded_stack, monkeypatch):
    monkeypatch.setenv("FLIGHTLOG_API_URL", seeded_stack.api_url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", seeded_stack.collector.admin_key)
    return seeded_stack


def _open(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(page)
    return at.run()


def test_audit_page_verifies_the_chain_and_lists_access(admin_env) -> None:
    at = _open("views/audit.py")
    assert not at.exception
    assert at.title[0].value == "Audit"
    (verify,) = [b for b in at.button if b.label == "Verify the chain"]
    verify.click().run()
    assert not at.exception
    assert any(s.value.startswith("OK") for s in at.success), [e.value for e in at.error]
    assert len(at.dataframe) >= 2  # access log + checkpoint tables at least
    linked = [d.value for d in at.dataframe if "trace_id" in d.value.columns and len(d.value)]
    assert linked and all(str(v).startswith("trace?trace_id=") for d in linked for v in d["trace_id"]), (
        "trace ids open the trace")


def test_audit_page_asks_for_an_auditor_key_with_a_read_key(seeded_stack, monkeypatch) -> None:
    monkeypatch.setenv("FLIGHTLOG_API_URL", seeded_stack.api_url)
    monkeypatch.setenv("FLIGHTLOG_API_KEY", seeded_stack.read_key)
    at = _open("views/audit.py")
    assert not at.exception
    assert any("auditor or admin key" in w.value for w in at.warning)


def test_reviews_page_renders(admin_env) -> None:
    at = _open("views/reviews.py")
    assert not at.exception
    assert at.title[0].value == "Reviews"


def test_client_audit_methods(seeded_stack) -> None:
    with ApiClient(seeded_stack.api_url, seeded_stack.collector.admin_key) as api:
        assert api.verify_chain()["ok"]
        assert api.access_log(limit=5)["entries"]
        assert "checkpoints" in api.checkpoints(min_tier=1)
        assert isinstance(api.governance_log(), list) and isinstance(api.budget_alerts(), list)
        assert api.export_bytes("jsonl", user="nobody-at-all").count(b"\n") == 1  # only the manifest line
    with ApiClient(seeded_stack.api_url, seeded_stack.read_key) as api, pytest.raises(ApiError) as info:
        api.verify_chain()
    assert info.value.status_code == 403
