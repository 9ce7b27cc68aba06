"""Tests for flightlog.collector.ingest.redact: secrets become [REDACTED:<kind>] at ingest."""

from __future__ import annotations

import time

import pytest

from flightlog.collector.ingest.redact import (
    REDACTIONS_KEY,
    SECRET_RULES,
    format_counts,
    luhn_valid,
    redact_log_record,
    redact_row,
    redact_text,
    rules_for,
)

OPENAI_KEY = "sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb3dEf6hIj9kLm2n"
PROJECT_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_-QqRr7Ss0TtUu"
ANTHROPIC_KEY = "sk-ant-api03-abcDEF1234567890abcdefGHIJKLmnop-XYZ_1234567890AA"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nq9X+/0=\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize("text,expected", [
    # OpenAI / Anthropic
    (f"key {OPENAI_KEY} end", "key [REDACTED:api_key] end"),
    (f"key={PROJECT_KEY}", "key=[REDACTED:api_key]"),
    (f'{{"k": "{ANTHROPIC_KEY}"}}', '{"k": "[REDACTED:api_key]"}'),
    ("sk-svcacct-AAAABBBBCCCC1111DDDDEEEE2222", "[REDACTED:api_key]"),
    # AWS, GitHub, Google, Slack
    ("aws AKIAIOSFODNN7EXAMPLE.", "aws [REDACTED:api_key]."),
    ("temp ASIAY34FZKBOKMUTVV7A", "temp [REDACTED:api_key]"),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED:api_key]"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "[REDACTED:api_key]"),
    ("maps AIzaSyA1234567890abcdefghijklmnopqrstuv", "maps [REDACTED:api_key]"),
    ("slack xoxb-1234567890-abcdefghij", "slack [REDACTED:api_key]"),
    ("xoxp-9999999999-0000000000-aaaa", "[REDACTED:api_key]"),
    # generic key=value forms
    ("api_key = 'abc123def456ghi'", "api_key = '[REDACTED:api_key]'"),
    ('{"api-key": "9f8e7d6c5b4a"}', '{"api-key": "[REDACTED:api_key]"}'),
    ("X-API-Key: 0123456789abcdef", "X-API-Key: [REDACTED:api_key]"),
    ("apikey=Zx9Yw8Vu7Ts6", "apikey=[REDACTED:api_key]"),
])
def test_redact_text_api_keys(text, expected) -> None:
    out, counts = redact_text(text)
    assert out == expected
    assert counts == {"api_key": 1}


@pytest.mark.parametrize("text,expected,kind", [
    ("Authorization: Bearer abc123.def456-ghi", "Authorization: Bearer [REDACTED:bearer_token]", "bearer_token"),
    ("authorization: bearer 0a1b2c3d4e5f6a7b8c9d==", "authorization: bearer [REDACTED:bearer_token]", "bearer_token"),
    (f"Authorization: Bearer {JWT}", "Authorization: Bearer [REDACTED:jwt]", "jwt"),
    (f"session={JWT};", "session=[REDACTED:jwt];", "jwt"),
    ("postgres://bob:hunter2@db.example.com:5432/app",
     "postgres://bob:[REDACTED:url_password]@db.example.com:5432/app", "url_password"),
    ("fetch https://user:p%40ss@example.com/x", "fetch https://user:[REDACTED:url_password]@example.com/x",
     "url_password"),
    (f"before {PEM} after", "before [REDACTED:private_key] after", "private_key"),
    ("-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----",  # JSON-escaped newlines
     "[REDACTED:private_key]", "private_key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "[REDACTED:private_key]", "private_key"),  # cut off
    ("card 4111 1111 1111 1111 exp 12/27", "card [REDACTED:credit_card] exp 12/27", "credit_card"),
    ("card 4111-1111-1111-1111.", "card [REDACTED:credit_card].", "credit_card"),
    ("pay with 5555555555554444", "pay with [REDACTED:credit_card]", "credit_card"),
    ("amex 3782 822463 10005", "amex [REDACTED:credit_card]", "credit_card"),
    ("visa13 4222222222222", "visa13 [REDACTED:credit_card]", "credit_card"),
])
def test_redact_text_secret_kinds(text, expected, kind) -> None:
    out, counts = redact_text(text)
    assert out == expected
    assert counts == {kind: 1}


@pytest.mark.parametrize("text", [
    "order 4111111111111112",                     # fails Luhn
    "order #5555-1234-1234-1234",                 # fails Luhn
    "ORD-4111111111111111",                       # part of an id
    "ts 1700000000000 and 1732550000123456789",   # epoch ms / ns start with 1
    "uuid 550e8400-e29b-41d4-a716-446655440000",
    "uuid 12345678-1234-4123-8123-123456789012",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736",
    "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",            # not grouped like a card
    "4111 11111 1111 1111",                       # not grouped like a card
    "sk-learn-model-selection-for-everyone",      # "sk" words
    "risk-management-and-compliance-framework-2024",
    "task-oriented-dialogue-system-design",
    "ask-me-anything-about-transformers-v2",
    "sk-ii skincare",
    "api_key: YOUR_API_KEY_HERE",
    "api_key=os.environ",
    "use Bearer authentication for the API",
    "https://example.com:8080/path?q=1",
    "mailto jane@example.com",                    # e-mail is off by default
    "call +1 415 555 0132",                       # phone is off by default
    "PromptHash abc123def456abc123def456abc123def456",
    "the AKIA prefix marks AWS access keys",
    "eyJ alone is not a token",
])
def test_redact_text_leaves_lookalikes(text) -> None:
    assert redact_text(text) == (text, {})


@pytest.mark.parametrize("text,emails,phones,expected", [
    ("mail jane.doe@example.co.uk", True, False, "mail [REDACTED:email]"),
    ("mail jane.doe@example.co.uk", False, False, "mail jane.doe@example.co.uk"),
    ("call +1 415 555 0132 today", False, True, "call [REDACTED:phone] today"),
    ("call (415) 555-0132", False, True, "call [REDACTED:phone]"),
    ("ring 020 7946 0958", False, True, "ring [REDACTED:phone]"),
    ("date 2024-01-15 12:30", False, True, "date 2024-01-15 12:30"),
    ("ip 192.168.100.200", False, True, "ip 192.168.100.200"),
    ("version 1.2.3", False, True, "version 1.2.3"),
    ("build 1700000000000", False, True, "build 1700000000000"),
])
def test_redact_text_optional_personal_data(text, emails, phones, expected) -> None:
    assert redact_text(text, rules_for(emails=emails, phones=phones))[0] == expected


@pytest.mark.parametrize("digits,valid", [
    ("4111111111111111", True),
    ("5555555555554444", True),
    ("378282246310005", True),
    ("4111111111111112", False),
    ("1234567890123", False),
    ("79927398713", True),
    ("0", True),
])
def test_luhn_valid(digits, valid) -> None:
    assert luhn_valid(digits) is valid


def test_redact_text_counts_each_match() -> None:
    text = f"{OPENAI_KEY} and {PROJECT_KEY} paid with 4111 1111 1111 1111"
    out, counts = redact_text(text)
    assert counts == {"api_key": 2, "credit_card": 1}
    assert "sk-" not in out


def test_redact_text_counts_a_repeated_secret_once() -> None:
    out, counts = redact_text(f"{OPENAI_KEY} again {OPENAI_KEY}")
    assert out == "[REDACTED:api_key] again [REDACTED:api_key]"
    assert counts == {"api_key": 1}


def test_redact_text_is_idempotent() -> None:
    once, _ = redact_text(f"postgres://a:b1@h Bearer {JWT} api_key={OPENAI_KEY}")
    assert redact_text(once) == (once, {})


def test_redact_row_scans_text_columns_and_maps_but_not_prompt_hash() -> None:
    row = {
        "InputText": f"user: my key is {PROJECT_KEY}",
        "OutputText": "ok",
        "ToolArgs": '{"card": "4111 1111 1111 1111"}',
        "ToolResult": "",
        "StatusMessage": "connect postgres://u:pw123@db failed",
        "PromptHash": OPENAI_KEY,
        "SpanAttributes": {"gen_ai.input.messages": f'[{{"content": "{PROJECT_KEY}"}}]',
                           REDACTIONS_KEY: "spoofed"},
        "ResourceAttributes": {"deploy.token": f"Bearer {JWT}"},
        "Events.Attributes": [{"exception.message": f"401 for {ANTHROPIC_KEY}"}],
        "Links.Attributes": [{}],
    }
    counts = redact_row(row)
    # PROJECT_KEY sits in InputText and in an attribute: one secret, counted once.
    assert counts == {"api_key": 2, "credit_card": 1, "url_password": 1, "jwt": 1}
    assert row["PromptHash"] == OPENAI_KEY
    assert "[REDACTED:api_key]" in row["InputText"] and PROJECT_KEY not in row["InputText"]
    assert row["SpanAttributes"][REDACTIONS_KEY] == "api_key=2,credit_card=1,jwt=1,url_password=1"
    assert row["ResourceAttributes"]["deploy.token"] == "Bearer [REDACTED:jwt]"
    assert row["Events.Attributes"][0]["exception.message"] == "401 for [REDACTED:api_key]"


def test_redact_row_drops_a_client_supplied_tally_when_nothing_was_found() -> None:
    row = {"InputText": "hello there", "SpanAttributes": {REDACTIONS_KEY: "api_key=0"}}
    assert redact_row(row) == {}
    assert REDACTIONS_KEY not in row["SpanAttributes"]


def test_redact_log_record_redacts_body_and_attributes_without_mutating() -> None:
    record = {"trace_id": "t", "span_id": "s", "event_name": "gen_ai.user.message",
              "body": {"content": f"use {PROJECT_KEY}", "n": 3}, "attributes": {"gen_ai.system": "openai"}}
    out, counts = redact_log_record(record)
    assert out["body"] == {"content": "use [REDACTED:api_key]", "n": 3}
    assert counts == {"api_key": 1} and record["body"]["content"] == f"use {PROJECT_KEY}"


@pytest.mark.parametrize("counts,expected", [
    ({"credit_card": 1, "api_key": 2}, "api_key=2,credit_card=1"),
    ({"jwt": 1}, "jwt=1"),
])
def test_format_counts(counts, expected) -> None:
    assert format_counts(counts) == expected


def test_rules_for_adds_personal_data_rules_only_when_asked() -> None:
    assert rules_for() == SECRET_RULES
    assert {r.kind for r in rules_for(emails=True, phones=True)} - {r.kind for r in SECRET_RULES} == {"email", "phone"}


_N = 256 * 1024  # the default FLIGHTLOG_MAX_ATTRIBUTE_VALUE_BYTES


@pytest.mark.parametrize("text", [
    "-----BEGIN PRIVATE KEY-----!" * (_N // 28),   # many unterminated key headers
    "a." * (_N // 2) + " b@c",                      # long local-part-like run
    "a." * (_N // 2) + " x://",                     # long scheme-like run
    "a://b:" + ":" * _N,                            # URL with no host
    "eyJ" + "a" * _N + " eyJ",
    "sk-" + "a-" * (_N // 2),
    "1 " * (_N // 2),
    "12-" * (_N // 3),
    "api_key" + " " * _N,
    "bearer " * (_N // 7),
    "a@" * (_N // 2),
], ids=["pem", "email", "scheme", "url", "jwt", "sk", "digits", "phone", "apikey", "bearer", "at"])
def test_redact_text_stays_linear_on_pathological_input(text) -> None:
    started = time.perf_counter()
    redact_text(text, rules_for(emails=True, phones=True))
    assert time.perf_counter() - started < 2.0  # quadratic backtracking would take minutes
