"""Cost of LLM spans from a versioned price table (docs/contracts.md, "Span row"; docs/storage/prices.md).

The table ships as `prices.json` next to this module; an operator may point the collector at
another file (the caller reads the environment and passes the path). Its shape::

    {"version": "2026-11-01",
     "models": [{"match": "gpt-4o-mini*", "input_per_mtok": 0.15, "output_per_mtok": 0.6,
                 "cached_input_per_mtok": 0.075}, ...]}

Prices are USD per million tokens. An entry may also carry ``reasoning_per_mtok`` (reasoning
tokens are part of the output count, priced at this rate when given) and ``effective_from``
(``YYYY-MM-DD``, UTC): the price applies to spans that started on or after that day, until
a later entry for the same pattern takes over. Entries without it have always applied.
A span is priced with the entries in force on its start day, so a price change is a new
entry, never an edit, and `flightlog prices recompute` can re-price stored spans.

`match` is a case-insensitive glob (`*`, `?`, `[...]`)
over the model name; when several match, the one with the most literal characters wins, so
`gpt-4o-mini*` beats `gpt-4o*` for `gpt-4o-mini-2024-07-18`. A provider prefix such as
`openai/`, `models/` or Bedrock's `anthropic.` is ignored when matching.

Usage::

    table = load_prices()          # or load_prices("/etc/flightlog/prices.json")
    table.price(row)               # sets CostUsd, CostSource, PriceVersion in place
                                   # (and CachedInputTokens, ReasoningTokens)
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping, MutableMapping

# Token breakdowns are read from SpanAttributes under the vocabulary's keys (the same keys
# `flightlog prices recompute` reads in SQL): the cached part of the input (priced at the
# cached rate when the table has one; input counts include it), the part written to a provider
# cache (billed above the input rate) and reasoning tokens (part of the output count).
from flightlog import semconv as sc
from flightlog.collector.genai.render import parse_json, to_float, to_int
from flightlog.semconv import READ_CACHE_READ_TOKENS, READ_CACHE_WRITE_TOKENS, READ_REASONING_TOKENS

DEFAULT_PRICES_PATH = Path(__file__).with_name("prices.json")

_PROVIDER_PREFIX = re.compile(
    r"^(?:[a-z]{2,4}\.)?(?:anthropic|amazon|meta|mistral|cohere|ai21|google)\.")
_GLOB_SYNTAX = re.compile(r"\[[^\]]*\]|[*?]")
_CACHE_LIMIT = 4096
_ENTRY_KEYS = {"match", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok",
               "cache_write_per_mtok", "reasoning_per_mtok", "effective_from", "note"}


@dataclass(frozen=True)
class ModelPrice:
    """One row of the price table: a glob over model names and its per-million prices."""

    match: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None
    effective_from: date | None = None  # None: in force since ever
    cache_write_per_mtok: float | None = None

    @property
    def specificity(self) -> int:
        """Number of literal (non-wildcard) characters: the more, the more specific."""
        return len(_GLOB_SYNTAX.sub("", self.match))

    @property
    def rates(self) -> tuple[float, float, float, float, float]:
        """(input, output, cached input, reasoning, cache write) USD per million, defaults filled in."""
        return (
            self.input_per_mtok,
            self.output_per_mtok,
            self.cached_input_per_mtok if self.cached_input_per_mtok is not None else self.input_per_mtok,
            self.reasoning_per_mtok if self.reasoning_per_mtok is not None else self.output_per_mtok,
            self.cache_write_per_mtok if self.cache_write_per_mtok is not None else self.input_per_mtok,
        )

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0,
             reasoning_tokens: int = 0, cache_write_tokens: int = 0) -> float:
        """USD for the given token counts (cache reads and writes are part of input_tokens,
        reasoning tokens part of output_tokens)."""
        cached = min(max(cached_input_tokens, 0), input_tokens)
        written = min(max(cache_write_tokens, 0), input_tokens - cached)
        reasoning = min(max(reasoning_tokens, 0), output_tokens)
        rate_in, rate_out, rate_cached, rate_reasoning, rate_write = self.rates
        usd = ((input_tokens - cached - written) * rate_in + cached * rate_cached + written * rate_write
               + (output_tokens - reasoning) * rate_out + reasoning * rate_reasoning) / 1_000_000
        return round(usd, 12)


@dataclass(frozen=True)
class PriceTable:
    """A loaded, validated price table. Build it with `load_prices`."""

    version: str
    models: tuple[ModelPrice, ...]
    #: The table as canonical JSON: what the store records (``price_tables``) so that audit can
    #: recompute any cost priced with it.
    body: str = field(default="", repr=False, compare=False)
    _cache: dict[tuple[str, date | None], ModelPrice | None] = field(
        default_factory=dict, repr=False, compare=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()

    def __post_init__(self) -> None:
        # Most specific first; exact names before globs of equal length; then the latest
        # effective date first; then file order.
        ordered = sorted(self.models,
                         key=lambda m: (-m.specificity, bool(_GLOB_SYNTAX.search(m.match)),
                                        -(m.effective_from or date.min).toordinal()))
        object.__setattr__(self, "models", tuple(ordered))

    @property
    def effective_dates(self) -> list[date]:
        """The days on which some price changes, in order (boundaries for re-pricing)."""
        return sorted({m.effective_from for m in self.models if m.effective_from is not None})

    def lookup(self, model: str, at: date | None = None) -> ModelPrice | None:
        """The most specific entry matching `model` in force on day `at` (None: the newest)."""
        name = normalise_model_name(model)
        if not name:
            return None
        key = (name, at)
        if key not in self._cache:
            if len(self._cache) >= _CACHE_LIMIT:  # model names come from clients: stay bounded
                self._cache.clear()
            self._cache[key] = next(
                (m for m in self.models
                 if (at is None or m.effective_from is None or m.effective_from <= at)
                 and fnmatch.fnmatchcase(name, m.match.lower())), None)
        return self._cache[key]

    def price(self, row: MutableMapping[str, Any]) -> None:
        """Set CostUsd / CostSource / PriceVersion on a normalised span row, in place.

        - CostSource "client" (the span sent its own cost): the row is left untouched.
        - no input or output tokens: cost 0, source "none" (nothing to price).
        - tokens and a model found in the table (ResponseModel, else RequestModel):
          source "computed".
        - tokens but no model, or a model not in the table: cost 0, source "unknown"
          (re-priceable later: PriceVersion says which table did not know it).
        """
        input_tokens = _count(row.get("InputTokens"))
        output_tokens = _count(row.get("OutputTokens"))
        cached = min(_attr_count(row, READ_CACHE_READ_TOKENS, sc.LANGFUSE_USAGE_KEYS["cache_read"]), input_tokens)
        reasoning = min(_attr_count(row, READ_REASONING_TOKENS, sc.LANGFUSE_USAGE_KEYS["reasoning"]), output_tokens)
        row.update(CachedInputTokens=cached, ReasoningTokens=reasoning)
        if row.get("CostSource") == "client":
            return
        if input_tokens == 0 and output_tokens == 0:
            row.update(CostUsd=0.0, CostSource="none", PriceVersion="")
            return
        model = row.get("ResponseModel") or row.get("RequestModel") or ""
        entry = self.lookup(model, span_day(row.get("Timestamp")))
        if entry is None:
            row.update(CostUsd=0.0, CostSource="unknown", PriceVersion=self.version)
            return
        # Cache writes only from the attributes: `prices recompute` reads the same keys in SQL.
        cost = entry.cost(input_tokens, output_tokens, cached, reasoning, _attr_count(row, READ_CACHE_WRITE_TOKENS))
        row.update(CostUsd=cost, CostSource="computed", PriceVersion=self.version)


def client_cost(attrs: Mapping[str, Any]) -> float | None:
    """Cost sent by the client, in USD, or None when the span carries none (client cost wins over
    computed cost; the audit chain re-derives it from the hashed attributes the same way)."""
    for key in sc.READ_COST:
        cost = to_float(attrs.get(key))
        if cost is not None and cost >= 0:
            return cost
    details = parse_json(attrs.get(sc.LANGFUSE_COST))
    if isinstance(details, dict) and details:
        total = to_float(details.get("total"))
        if total is None:
            parts = [to_float(value) for value in details.values()]
            total = sum(p for p in parts if p is not None) if any(
                p is not None for p in parts) else None
        if total is not None and total >= 0:
            return total
    cost = to_float(attrs.get(sc.OPENLLMETRY_COST))
    return cost if cost is not None and cost >= 0 else None


def span_day(timestamp: Any) -> date | None:
    """The UTC day a span started (rows carry unix nanoseconds); None when unknown."""
    if isinstance(timestamp, datetime):
        return timestamp.astimezone(timezone.utc).date() if timestamp.tzinfo else timestamp.date()
    if isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp > 0:
        return datetime.fromtimestamp(timestamp / 1e9, tz=timezone.utc).date()
    return None


def normalise_model_name(model: str) -> str:
    """Model name as matched against the table: lower case, provider prefix removed."""
    name = (model or "").strip().lower()
    name = name.rsplit("/", 1)[-1]
    return _PROVIDER_PREFIX.sub("", name)


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Load and validate a price table; the shipped `prices.json` when `path` is None.

    Raises ValueError naming the file and the problem when the file cannot be read, is not
    JSON, or does not have the documented shape.
    """
    source = Path(path) if path is not None else DEFAULT_PRICES_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"price table {source}: cannot be read: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"price table {source}: not valid JSON: {exc}") from exc
    try:
        return parse_prices(data)
    except ValueError as exc:
        raise ValueError(f"price table {source}: {exc}") from exc


def parse_prices(data: Any) -> PriceTable:
    """A PriceTable from already decoded JSON; ValueError says what is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError("top level must be an object with 'version' and 'models'")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise ValueError("'version' must be a non-empty string")
    entries = data.get("models")
    if not isinstance(entries, list) or not entries:
        raise ValueError("'models' must be a non-empty list")
    models, seen = [], set()
    for index, entry in enumerate(entries):
        where = f"models[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be an object")
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            raise ValueError(f"{where} has unknown keys {sorted(unknown)}")
        match = entry.get("match")
        if not isinstance(match, str) or not match.strip():
            raise ValueError(f"{where}: 'match' must be a non-empty string")
        effective = _day(entry.get("effective_from"), f"{where}: 'effective_from'")
        if (match.lower(), effective) in seen:
            raise ValueError(f"{where}: duplicate match pattern {match!r}"
                             + (f" effective from {effective}" if effective else ""))
        seen.add((match.lower(), effective))
        where = f"{where} ({match!r})"
        cached = entry.get("cached_input_per_mtok")
        reasoning = entry.get("reasoning_per_mtok")
        cache_write = entry.get("cache_write_per_mtok")
        models.append(ModelPrice(
            match=match.strip(),
            input_per_mtok=_price(entry.get("input_per_mtok"), f"{where}: 'input_per_mtok'"),
            output_per_mtok=_price(entry.get("output_per_mtok"), f"{where}: 'output_per_mtok'"),
            cached_input_per_mtok=(None if cached is None else
                                   _price(cached, f"{where}: 'cached_input_per_mtok'")),
            reasoning_per_mtok=(None if reasoning is None else
                                _price(reasoning, f"{where}: 'reasoning_per_mtok'")),
            effective_from=effective,
            cache_write_per_mtok=(None if cache_write is None else
                                  _price(cache_write, f"{where}: 'cache_write_per_mtok'")),
        ))
    return PriceTable(version=version.strip(), models=tuple(models),
                      body=json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def _day(value: Any, what: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a YYYY-MM-DD string, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{what} must be a YYYY-MM-DD date, got {value!r}") from exc


def _price(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _attr_count(row: Mapping[str, Any], keys: tuple[str, ...], langfuse_keys: tuple[str, ...] = ()) -> int:
    """The first of ``keys`` present in the span's attributes, as a count, else the first of
    ``langfuse_keys`` in Langfuse's usage details (0 if none)."""
    attrs = row.get("SpanAttributes") or {}
    for key in keys:
        if key in attrs:
            try:
                return max(0, int(float(attrs[key])))
            except (TypeError, ValueError):
                continue
    return max(0, usage_detail(langfuse_usage(attrs), langfuse_keys) or 0) if langfuse_keys else 0


def langfuse_usage(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Langfuse's ``usage_details`` object of a span ({} when it has none)."""
    details = parse_json(attrs.get(sc.LANGFUSE_USAGE))
    return details if isinstance(details, dict) else {}


def usage_detail(details: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first of ``keys`` (dotted paths into nested objects, as OpenAI's usage has them)
    that ``details`` holds as a number."""
    for key in keys:
        node: Any = details
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        count = to_int(node)
        if count is not None:
            return count
    return None
