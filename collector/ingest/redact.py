"""Secret redaction at ingest: matches become ``[REDACTED:<kind>]`` (docs/ingest-rules.md).

Pure functions over text and over mapped rows. Secrets (API keys, bearer tokens, JWTs,
passwords in URLs, private key blocks, Luhn-valid card numbers) are always redacted;
e-mail addresses and phone numbers only when the collector is asked to.

    redact_text(text, rules)          → (text, {kind: distinct secrets})
    redact_row(row, rules)            → {kind: count}   (in place, every text column and map)
    redact_log_record(record, rules)  → (record, {kind: count})   for OTLP log records
    rules_for(emails=..., phones=...) → the rule tuple to pass to all of them

Speed: every rule has a cheap trigger (a substring, or one small regex) checked before its
pattern runs, so most values cost a few ``in`` tests; patterns are compiled once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flightlog import semconv as sc

REDACTIONS_KEY = sc.REDACTIONS
MIN_LENGTH = 6  # nothing we redact is shorter than "a@b.io"

# Row columns whose text is scanned. PromptHash is left alone: a hash looks like a secret.
TEXT_COLUMNS = ("InputText", "OutputText", "ToolArgs", "ToolResult", "StatusMessage")
MAP_COLUMNS = ("SpanAttributes", "ResourceAttributes")
MAP_LIST_COLUMNS = ("Events.Attributes", "Links.Attributes")


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


@dataclass(frozen=True)
class Rule:
    """One kind of secret: run ``pattern`` only when ``triggers`` says it may match.

    ``triggers`` is a tuple of lower-case substrings (any one present in the lower-cased
    text) or a compiled regex (searched in the text itself).
    ``replace`` gets the match and returns the replacement, or None to leave it (a
    validator said no, e.g. a failed Luhn check).
    """

    kind: str
    pattern: re.Pattern[str]
    triggers: tuple[str, ...] | re.Pattern[str]
    replace: Callable[[re.Match[str]], str | None]

    def may_match(self, text: str, lowered: str) -> bool:
        if isinstance(self.triggers, tuple):
            return any(map(lowered.__contains__, self.triggers))
        return self.triggers.search(text) is not None


@dataclass(frozen=True)
class _Precheck:
    """Every trigger of a rule set at once: substring tests (fast) then the few regexes."""

    literals: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]

    def __call__(self, text: str) -> bool:
        # The substring tests run at C speed (map over ``in``); same answer as a generator.
        return any(map(text.lower().__contains__, self.literals)) or any(p.search(text) for p in self.patterns)


_PRECHECKS: dict[int, tuple[tuple[Rule, ...], _Precheck]] = {}


def _precheck(rules: tuple[Rule, ...]) -> _Precheck:
    """The precheck of a rule tuple, cached by identity (hashing the rules costs more)."""
    cached = _PRECHECKS.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    if len(_PRECHECKS) > 64:
        _PRECHECKS.clear()
    literals = tuple(dict.fromkeys(t for r in rules if isinstance(r.triggers, tuple) for t in r.triggers))
    patterns = tuple(r.triggers for r in rules if not isinstance(r.triggers, tuple))
    check = _Precheck(literals, patterns)
    _PRECHECKS[id(rules)] = (rules, check)
    return check


def _whole(kind: str) -> Callable[[re.Match[str]], str]:
    text = marker(kind)
    return lambda m: text


# --- validators ---------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (card numbers pass, most other numbers not)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_RANDOM_RUN = re.compile(r"[A-Za-z0-9]{16,}")


def looks_random(body: str) -> bool:
    """True when ``body`` has a run of 16+ letters/digits mixing both (key material),
    which hyphenated words such as ``sk-learn-model-selection`` do not."""
    for run in _RANDOM_RUN.findall(body):
        if any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return True
    return False


def _prefixed_key(m: re.Match[str]) -> str | None:
    return marker("api_key") if looks_random(m.group("body")) else None


def _generic_key(m: re.Match[str]) -> str | None:
    value = m.group("value")
    if not any(c.isdigit() for c in value):  # "api_key: YOUR_KEY_HERE", "api_key=os.environ"
        return None
    return m.group("lead") + marker("api_key")


def _bearer(m: re.Match[str]) -> str | None:
    token = m.group("token")
    if not any(c.isdigit() for c in token):  # "Bearer authentication" is prose
        return None
    return m.group("lead") + marker("bearer_token")


def _url_password(m: re.Match[str]) -> str | None:
    if m.group("password").startswith("[REDACTED"):
        return None
    return f"{m.group('prefix')}{marker('url_password')}@"


_CARD_PREFIXES = tuple("23456")  # Mastercard 2/5, Amex/JCB/Diners 3, Visa 4, Discover/UnionPay 6


def _card(m: re.Match[str]) -> str | None:
    text = m.group(0)
    groups = re.split(r"[ -]", text)
    if len(groups) > 1:
        if len({c for c in text if c in " -"}) > 1 or len(groups[0]) != 4 or min(map(len, groups[:-1])) < 4:
            return None  # card numbers are written in groups of 4 (or 4-6-5) with one separator
    digits = "".join(groups)
    if not 13 <= len(digits) <= 19 or not digits.startswith(_CARD_PREFIXES) or not luhn_valid(digits):
        return None
    return marker("credit_card")


_DATE_OR_IP = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")


def _phone(m: re.Match[str]) -> str | None:
    text = m.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15 or _DATE_OR_IP.search(text):
        return None
    if not text.startswith("+") and "(" not in text and digits < 10:
        return None  # without a country code or area code, short digit groups are not phones
    return marker("phone")


# --- rules --------------------------------------------------------------------------------

_KEY_CHARS = r"[A-Za-z0-9_-]"

PRIVATE_KEY = Rule(
    "private_key",
    re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
               # Body chars only (base64, headers, real or JSON-escaped newlines): a lazy scan
               # that cannot run past the block keeps many unterminated headers linear.
               r"(?:[A-Za-z0-9+/=\s\\:,.-]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
               r"|[A-Za-z0-9+/=\s\\:,.-]*)"),
    ("private key",), _whole("private_key"))
JWT = Rule(
    "jwt",
    re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    ("eyj",), _whole("jwt"))
URL_PASSWORD = Rule(
    "url_password",
    re.compile(r"(?P<prefix>(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s:/?#@\[\]]+:)"
               r"(?P<password>[^\s/?#@]+)@"),
    ("://",), _url_password)
OPENAI_ANTHROPIC_KEY = Rule(  # sk-…, sk-proj-…, sk-svcacct-…, sk-ant-api03-…
    "api_key",
    re.compile(rf"(?<![A-Za-z0-9_-])sk-(?P<body>{_KEY_CHARS}{{20,}})"),
    ("sk-",), _prefixed_key)
AWS_ACCESS_KEY = Rule(
    "api_key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), ("akia", "asia"), _whole("api_key"))
GITHUB_TOKEN = Rule(
    "api_key", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), _whole("api_key"))
GOOGLE_API_KEY = Rule(
    "api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), ("aiza",), _whole("api_key"))
SLACK_TOKEN = Rule(
    "api_key", re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}"), ("xox",), _whole("api_key"))
GENERIC_API_KEY = Rule(  # api_key=…, "api-key": "…", X-API-Key: …
    "api_key",
    re.compile(r"(?P<lead>\bapi[_-]?key[\"']?\s*[:=]\s*[\"']?)(?P<value>[A-Za-z0-9][A-Za-z0-9._~+/=-]{7,})",
               re.IGNORECASE),
    ("api_key", "api-key", "apikey"), _generic_key)
BEARER = Rule(
    "bearer_token",
    re.compile(r"(?P<lead>\bbearer\s+)(?P<token>[A-Za-z0-9._~+/-]{8,}=*)", re.IGNORECASE),
    ("bearer",), _bearer)
CREDIT_CARD = Rule(
    "credit_card",
    re.compile(r"(?<![\w.+-])[0-9]{4}(?:[ -]?[0-9]){9,15}(?!\w|[-. ,]?[0-9])"),
    re.compile(r"[2-6][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]"), _card)  # no lookbehind: keeps sre's fast scan
EMAIL = Rule(
    "email",
    re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    ("@",), _whole("email"))
PHONE = Rule(
    "phone",
    re.compile(r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w]|[.-]?\d)"),
    re.compile(r"\+[0-9]|\([0-9]{1,4}\)|[0-9]{2,4}[ .-][0-9]{2,4}[ .-][0-9]{2,4}"), _phone)

# Order matters: a JWT after "Bearer" counts as a jwt; vendor keys before the generic rule.
SECRET_RULES: tuple[Rule, ...] = (
    PRIVATE_KEY, JWT, URL_PASSWORD, OPENAI_ANTHROPIC_KEY, AWS_ACCESS_KEY, GITHUB_TOKEN,
    GOOGLE_API_KEY, SLACK_TOKEN, GENERIC_API_KEY, BEARER, CREDIT_CARD,
)
KINDS = ("api_key", "bearer_token", "jwt", "url_password", "private_key", "credit_card",
         "email", "phone")


def rules_for(*, emails: bool = False, phones: bool = False) -> tuple[Rule, ...]:
    """The secret rules, plus the optional personal-data ones."""
    return SECRET_RULES + ((EMAIL,) if emails else ()) + ((PHONE,) if phones else ())


def rules_from_settings(settings: Any) -> tuple[Rule, ...]:
    """Rules for a collector Settings (FLIGHTLOG_REDACT_EMAILS / _PHONES); None: secrets only."""
    if settings is None:
        return SECRET_RULES
    return rules_for(emails=bool(settings.redact_emails), phones=bool(settings.redact_phones))


# --- applying -----------------------------------------------------------------------------


def redact_text(text: str, rules: Iterable[Rule] = SECRET_RULES,
                found: dict[str, set[str]] | None = None) -> tuple[str, dict[str, int]]:
    """``text`` with every match replaced by ``[REDACTED:<kind>]``, and the number of
    distinct secrets per kind (the same key twice counts once).

    Pass ``found`` (kind → set of matched strings) to tally across several texts.
    """
    found = {} if found is None else found
    rules = tuple(rules)
    if len(text) >= MIN_LENGTH and _precheck(rules)(text):
        text = _apply(text, rules, found)
    return text, {kind: len(values) for kind, values in found.items()}


def _apply(text: str, rules: tuple[Rule, ...], found: dict[str, set[str]]) -> str:
    lowered = text.lower()
    for rule in rules:
        if not rule.may_match(text, lowered):
            continue

        def sub(m: re.Match[str], rule: Rule = rule) -> str:
            out = rule.replace(m)
            if out is None:
                return m.group(0)
            found.setdefault(rule.kind, set()).add(m.group(0))
            return out

        text = rule.pattern.sub(sub, text)
    return text


def redact_map(values: Mapping[str, str], rules: Iterable[Rule], found: dict[str, set[str]]) -> dict[str, str]:
    """A copy of a string map with every value redacted (keys are left alone)."""
    rules = tuple(rules)
    precheck = _precheck(rules)
    out = {}
    for key, value in values.items():
        if isinstance(value, str) and len(value) >= MIN_LENGTH and precheck(value):
            value = _apply(value, rules, found)
        out[key] = value
    return out


def redact_row(row: dict[str, Any], rules: Iterable[Rule] = SECRET_RULES) -> dict[str, int]:
    """Redact a mapped row in place and record the tally as ``SpanAttributes["flightlog.redactions"]``.

    Scans the text columns (not PromptHash), SpanAttributes, ResourceAttributes and the
    attributes of every event and link. Returns the number of distinct secrets per kind: a
    prompt usually sits both in an attribute and in InputText, and counts once.

    Most rows hold no trigger at all, so the row's texts are first searched as one string.
    """
    rules = tuple(rules)
    attributes = row.setdefault("SpanAttributes", {})
    attributes.pop(REDACTIONS_KEY, None)  # server-owned: a client cannot claim or hide redactions
    texts = [row.get(column) or "" for column in TEXT_COLUMNS]
    for column in MAP_COLUMNS:
        texts.extend((row.get(column) or {}).values())
    for column in MAP_LIST_COLUMNS:
        for values in row.get(column) or ():
            texts.extend(values.values())
    # Each distinct text once (a prompt sits in an attribute and in InputText), and only texts
    # long enough to be redacted at all.
    distinct = dict.fromkeys(t for t in texts if isinstance(t, str) and len(t) >= MIN_LENGTH)
    if not distinct or not _precheck(rules)("\n\x00".join(distinct)):
        return {}
    found: dict[str, set[str]] = {}
    for column in TEXT_COLUMNS:
        value = row.get(column)
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            row[column], _ = redact_text(value, rules, found)
    for column in MAP_COLUMNS:
        if row.get(column):
            row[column] = redact_map(row[column], rules, found)
    for column in MAP_LIST_COLUMNS:
        if row.get(column):
            row[column] = [redact_map(m, rules, found) for m in row[column]]
    counts = {kind: len(values) for kind, values in found.items()}
    if counts:
        row["SpanAttributes"][REDACTIONS_KEY] = format_counts(counts)
    return counts


def redact_value(value: Any, rules: Iterable[Rule], found: dict[str, set[str]]) -> Any:
    """A decoded attribute value (str, or lists/dicts of them) with every string redacted."""
    rules = tuple(rules)
    if isinstance(value, str):
        if len(value) >= MIN_LENGTH and _precheck(rules)(value):
            return _apply(value, rules, found)
        return value
    if isinstance(value, dict):
        return {k: redact_value(v, rules, found) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, rules, found) for v in value]
    return value


def redact_log_record(record: Mapping[str, Any],
                      rules: Iterable[Rule] = SECRET_RULES) -> tuple[dict[str, Any], dict[str, int]]:
    """A copy of a decoded OTLP log record (decode.logs_from_request) with its ``body`` and
    ``attributes`` redacted, and the tally; GenAI content often arrives this way."""
    rules = tuple(rules)
    found: dict[str, set[str]] = {}
    out = dict(record)
    out["body"] = redact_value(record.get("body"), rules, found)
    out["attributes"] = redact_value(dict(record.get("attributes") or {}), rules, found)
    return out, {kind: len(values) for kind, values in found.items()}


def format_counts(counts: Mapping[str, int]) -> str:
    """``api_key=2,credit_card=1``: kinds in alphabetical order."""
    return ",".join(f"{kind}={counts[kind]}" for kind in sorted(counts))
