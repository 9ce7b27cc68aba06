"""Tests for flightlog.collector.pricing: the price table and the cost of a span row."""

from __future__ import annotations

import json

import pytest

from flightlog.collector import pricing
from flightlog.collector.pricing import load_prices, parse_prices

TABLE = parse_prices({
    "version": "test-1",
    "models": [
        {"match": "gpt-4o*", "input_per_mtok": 2.5, "output_per_mtok": 10.0,
         "cached_input_per_mtok": 1.25},
        {"match": "gpt-4o-mini*", "input_per_mtok": 0.15, "output_per_mtok": 0.6},
        {"match": "gpt-4o-2024-05-13", "input_per_mtok": 5.0, "output_per_mtok": 15.0},
        {"match": "text-embedding-3-small", "input_per_mtok": 0.02, "output_per_mtok": 0},
    ],
})


def row(**columns):
    base = {"InputTokens": 0, "OutputTokens": 0, "RequestModel": "", "ResponseModel": "",
            "CostUsd": 0.0, "CostSource": "none", "PriceVersion": "", "SpanAttributes": {}}
    base.update(columns)
    return base


@pytest.mark.parametrize("model,expected_match", [
    ("gpt-4o", "gpt-4o*"),
    ("gpt-4o-2024-08-06", "gpt-4o*"),
    ("gpt-4o-mini", "gpt-4o-mini*"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini*"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
    ("GPT-4o-Mini", "gpt-4o-mini*"),
    ("openai/gpt-4o-mini", "gpt-4o-mini*"),
    ("text-embedding-3-small", "text-embedding-3-small"),
    ("text-embedding-3-small-v2", None),
    ("llama-3.1-70b", None),
    ("", None),
])
def test_lookup_most_specific_pattern_wins(model, expected_match):
    entry = TABLE.lookup(model)
    assert (entry.match if entry else None) == expected_match


@pytest.mark.parametrize("columns,expected", [
    # response model wins over request model
    ({"RequestModel": "gpt-4o", "ResponseModel": "gpt-4o-mini-2024-07-18",
      "InputTokens": 1_000_000, "OutputTokens": 1_000_000},
     {"CostUsd": 0.75, "CostSource": "computed", "PriceVersion": "test-1"}),
    ({"RequestModel": "gpt-4o", "InputTokens": 44, "OutputTokens": 25},
     {"CostUsd": pytest.approx((44 * 2.5 + 25 * 10.0) / 1e6), "CostSource": "computed",
      "PriceVersion": "test-1"}),
    ({"ResponseModel": "text-embedding-3-small", "InputTokens": 3},
     {"CostUsd": pytest.approx(3 * 0.02 / 1e6), "CostSource": "computed"}),
    # cached input tokens (part of the input count) at the cached rate
    ({"ResponseModel": "gpt-4o", "InputTokens": 1_000_000,
      "SpanAttributes": {"gen_ai.usage.cache_read.input_tokens": "400000"}},
     {"CostUsd": pytest.approx(0.6 * 2.5 + 0.4 * 1.25), "CostSource": "computed"}),
    # no cached rate in the table: cached tokens at the input rate
    ({"ResponseModel": "gpt-4o-mini", "InputTokens": 1_000_000,
      "SpanAttributes": {"llm.token_count.prompt_details.cache_read": "500000"}},
     {"CostUsd": pytest.approx(0.15), "CostSource": "computed"}),
    ({"ResponseModel": "llama-3.1-70b", "InputTokens": 10, "OutputTokens": 5},
     {"CostUsd": 0.0, "CostSource": "unknown", "PriceVersion": "test-1"}),
    ({"InputTokens": 10}, {"CostUsd": 0.0, "CostSource": "unknown"}),
    ({}, {"CostUsd": 0.0, "CostSource": "none", "PriceVersion": ""}),
    ({"ResponseModel": "gpt-4o"}, {"CostUsd": 0.0, "CostSource": "none"}),
    # client cost is never overwritten
    ({"ResponseModel": "gpt-4o", "InputTokens": 100, "CostUsd": 0.5, "CostSource": "client"},
     {"CostUsd": 0.5, "CostSource": "client", "PriceVersion": ""}),
])
def test_price_sets_cost_columns(columns, expected):
    span = row(**columns)
    TABLE.price(span)
    assert {key: span[key] for key in expected} == expected


def test_load_prices_default_table_is_valid_and_versioned():
    table = load_prices()
    assert table.version == json.loads(pricing.DEFAULT_PRICES_PATH.read_text())["version"]
    assert len(table.models) >= 40


@pytest.mark.parametrize("model,input_per_mtok,output_per_mtok", [
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o-mini-2024-07-18", 0.15, 0.60),
    ("gpt-4o-2024-08-06", 2.50, 10.00),
    ("gpt-4.1-mini-2025-04-14", 0.40, 1.60),
    ("o3-mini-2025-01-31", 1.10, 4.40),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    ("claude-3-5-sonnet-20241022", 3.00, 15.00),
    ("claude-3-5-haiku-latest", 0.80, 4.00),
    ("claude-sonnet-4-5-20250929", 3.00, 15.00),
    ("claude-opus-4-1-20250805", 15.00, 75.00),
    ("anthropic.claude-3-haiku-20240307-v1:0", 0.25, 1.25),
    ("gemini-2.5-flash", 0.30, 2.50),
    ("gemini-2.5-flash-lite", 0.10, 0.40),
    ("models/gemini-2.0-flash-001", 0.10, 0.40),
    ("gemini-1.5-pro-002", 1.25, 5.00),
    ("mistral-large-latest", 2.00, 6.00),
    ("mistral-small-2503", 0.10, 0.30),
    ("mistral-embed", 0.10, 0.0),
])
def test_shipped_prices_cover_common_models(model, input_per_mtok, output_per_mtok):
    entry = load_prices().lookup(model)
    assert entry is not None, model
    assert (entry.input_per_mtok, entry.output_per_mtok) == (input_per_mtok, output_per_mtok)


def test_load_prices_reads_an_override_file(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"version": "custom-7", "models": [
        {"match": "my-model*", "input_per_mtok": 1, "output_per_mtok": 2}]}))
    table = load_prices(str(path))
    span = row(ResponseModel="my-model-v2", InputTokens=1_000_000, OutputTokens=500_000)
    table.price(span)
    assert (span["CostUsd"], span["CostSource"], span["PriceVersion"]) == (2.0, "computed",
                                                                           "custom-7")


@pytest.mark.parametrize("content,problem", [
    ("{not json", "not valid JSON"),
    ("[]", "top level must be an object"),
    ('{"models": []}', "'version' must be a non-empty string"),
    ('{"version": "v", "models": []}', "'models' must be a non-empty list"),
    ('{"version": "v", "models": ["gpt"]}', "models[0] must be an object"),
    ('{"version": "v", "models": [{"input_per_mtok": 1, "output_per_mtok": 1}]}',
     "'match' must be a non-empty string"),
    ('{"version": "v", "models": [{"match": "a", "input_per_mtok": "1", "output_per_mtok": 1}]}',
     "'input_per_mtok' must be a number"),
    ('{"version": "v", "models": [{"match": "a", "input_per_mtok": 1, "output_per_mtok": -1}]}',
     "'output_per_mtok' must be a finite number >= 0"),
    ('{"version": "v", "models": [{"match": "a", "input_per_mtok": 1}]}',
     "'output_per_mtok' must be a number"),
    ('{"version": "v", "models": [{"match": "a", "input_per_mtok": 1, "output_per_mtok": 1,'
     ' "input_price": 3}]}', "unknown keys ['input_price']"),
    ('{"version": "v", "models": [{"match": "a", "input_per_mtok": 1, "output_per_mtok": 1},'
     ' {"match": "A", "input_per_mtok": 1, "output_per_mtok": 1}]}', "duplicate match pattern"),
])
def test_load_prices_bad_file_raises_value_error_naming_file_and_problem(tmp_path, content,
                                                                         problem):
    path = tmp_path / "bad-prices.json"
    path.write_text(content)
    with pytest.raises(ValueError) as excinfo:
        load_prices(path)
    assert str(path) in str(excinfo.value)
    assert problem in str(excinfo.value)


def test_load_prices_missing_file_raises_value_error(tmp_path):
    path = tmp_path / "missing.json"
    with pytest.raises(ValueError, match="cannot be read") as excinfo:
        load_prices(path)
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize("key", ["gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"])
def test_reasoning_tokens_are_read_under_current_and_older_genai_names(key):
    span = row(ResponseModel="gpt-4o", InputTokens=10, OutputTokens=100, SpanAttributes={key: 60})
    TABLE.price(span)
    assert span["ReasoningTokens"] == 60


def test_cache_writes_are_priced_at_the_cache_write_rate_and_default_to_input():
    table = parse_prices({"version": "t", "models": [
        {"match": "claude-x", "input_per_mtok": 3.0, "output_per_mtok": 15.0, "cached_input_per_mtok": 0.3,
         "cache_write_per_mtok": 3.75},
        {"match": "other", "input_per_mtok": 2.0, "output_per_mtok": 8.0}]})
    usage = {"gen_ai.usage.cache_read.input_tokens": 500_000, "gen_ai.usage.cache_creation.input_tokens": 300_000}
    claude = row(ResponseModel="claude-x", InputTokens=1_000_000, SpanAttributes=dict(usage))
    other = row(ResponseModel="other", InputTokens=1_000_000, SpanAttributes=dict(usage))
    table.price(claude)
    table.price(other)
    assert claude["CostUsd"] == pytest.approx(0.2 * 3.0 + 0.5 * 0.3 + 0.3 * 3.75)
    assert other["CostUsd"] == pytest.approx(2.0)  # no cache rates in the table: all input at the input rate
    with pytest.raises(ValueError, match="cache_write_per_mtok"):
        parse_prices({"version": "t", "models": [{"match": "m", "input_per_mtok": 1, "output_per_mtok": 1,
                                                   "cache_write_per_mtok": -1}]})
