"""Collector settings: one table feeds the CLI's ``--help``, the environment and the docs.

Order of precedence: command-line option, then the ``FLIGHTLOG_*`` variable, then the
default. A bad environment value raises at start-up with the variable's name.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

DATA_DIR_ENV = "FLIGHTLOG_DATA_DIR"


def default_data_dir() -> str:
    """The user's data directory (``~/.local/share/flightlog`` on Linux)."""
    try:
        from platformdirs import user_data_dir

        return user_data_dir("flightlog", appauthor=False)
    except ImportError:  # platformdirs ships with the server extra; fall back to XDG
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return str(Path(base) / "flightlog")


INGEST_WORKERS_ENV = "FLIGHTLOG_INGEST_WORKERS"


def default_ingest_workers() -> int:
    """The ingest workers ``flightlog up`` and ``serve`` start when none are asked for: one on a
    machine with two cores or more (the collector, its engine and one worker each get a core),
    none on one core (docs/performance.md)."""
    return 1 if (os.cpu_count() or 1) >= 2 else 0


def _meta(env: str, help: str) -> dict[str, Any]:
    return {"env": env, "help": help}


@dataclass
class Settings:
    """Everything the collector process needs to know; ``repr`` hides nothing secret."""

    data_dir: str = field(default_factory=default_data_dir, metadata=_meta(
        DATA_DIR_ENV, "Directory for the embedded store, dev keys and spool."))
    dsn: str = field(default="", metadata=_meta(
        "FLIGHTLOG_DSN", "Storage DSN: chdb:///abs/path (default: <data dir>/store) or http://user:pass@host:8123/db."))
    host: str = field(default="127.0.0.1", metadata=_meta("FLIGHTLOG_HOST", "Address the collector listens on."))
    port: int = field(default=4318, metadata=_meta("FLIGHTLOG_PORT", "OTLP/HTTP and query API port."))
    ui_port: int = field(default=8501, metadata=_meta("FLIGHTLOG_UI_PORT", "Port of the Streamlit UI."))
    project: str = field(default="default", metadata=_meta(
        "FLIGHTLOG_DEFAULT_PROJECT", "Project created (with an ingest and a read key) on first start."))
    max_body_bytes: int = field(default=16 * 1024 * 1024, metadata=_meta(
        "FLIGHTLOG_MAX_BODY_BYTES", "Largest accepted request body, before and after decompression (413 above)."))
    batch_rows: int = field(default=5000, metadata=_meta(
        "FLIGHTLOG_BATCH_ROWS", "A spool segment (one insert) is sealed when it holds this many rows."))
    flush_interval_ms: int = field(default=200, metadata=_meta(
        "FLIGHTLOG_FLUSH_INTERVAL_MS", "A spool segment is sealed and stored at the latest this long after its first row"
        " (a busy one: at FLIGHTLOG_BUSY_FLUSH_MS)."))
    busy_flush_ms: int = field(default=1000, metadata=_meta(
        "FLIGHTLOG_BUSY_FLUSH_MS", "A segment that holds a tenth of FLIGHTLOG_BATCH_ROWS within the flush interval"
        " keeps filling until it is full or this old: fewer, larger inserts under load."))
    max_pending_rows: int = field(default=50_000, metadata=_meta(
        "FLIGHTLOG_MAX_PENDING_ROWS", "Spooled rows also kept in memory for the writer; beyond this it re-reads them from disk."))
    grpc_port: int = field(default=4317, metadata=_meta(
        "FLIGHTLOG_GRPC_PORT", "OTLP/gRPC port (0 turns gRPC off)."))
    spool_fsync: str = field(default="always", metadata=_meta(
        "FLIGHTLOG_SPOOL_FSYNC", "When the spool is fsynced before acknowledging: always (group commit) or never."))
    max_spool_bytes: int = field(default=1024 * 1024 * 1024, metadata=_meta(
        "FLIGHTLOG_MAX_SPOOL_BYTES", "Spool size at which ingest answers 429/RESOURCE_EXHAUSTED with Retry-After."))
    min_free_disk_bytes: int = field(default=16 * 1024 * 1024, metadata=_meta(
        "FLIGHTLOG_MIN_FREE_DISK_BYTES",
        "Free space the spool leaves on its filesystem; below it ingest answers 503 with Retry-After."))
    ingest_workers: int = field(default=0, metadata=_meta(
        INGEST_WORKERS_ENV,
        "Processes that decode, limit, normalise and redact OTLP/HTTP trace requests beside the collector "
        "(0: in the collector's own threads). flightlog up and serve default to 1 on a machine with two "
        "cores or more, else 0 (docs/performance.md)."))
    max_spans_per_request: int = field(default=50_000, metadata=_meta(
        "FLIGHTLOG_MAX_SPANS_PER_REQUEST", "Requests with more spans are rejected with 400."))
    max_attributes_per_span: int = field(default=1000, metadata=_meta(
        "FLIGHTLOG_MAX_ATTRIBUTES_PER_SPAN", "Attributes beyond this count are dropped (the span is flagged)."))
    max_attribute_value_bytes: int = field(default=256 * 1024, metadata=_meta(
        "FLIGHTLOG_MAX_ATTRIBUTE_VALUE_BYTES", "Longer attribute values and texts are truncated with a marker."))
    redact_emails: int = field(default=0, metadata=_meta(
        "FLIGHTLOG_REDACT_EMAILS", "1 to also redact e-mail addresses at ingest (secrets are always redacted)."))
    redact_phones: int = field(default=0, metadata=_meta(
        "FLIGHTLOG_REDACT_PHONES", "1 to also redact phone numbers at ingest."))
    log_format: str = field(default="text", metadata=_meta(
        "FLIGHTLOG_LOG_FORMAT", "Collector log lines: text, or json (one object per line)."))
    log_level: str = field(default="info", metadata=_meta("FLIGHTLOG_LOG_LEVEL", "debug, info, warning or error."))
    anchor_interval_s: int = field(default=60, metadata=_meta(
        "FLIGHTLOG_ANCHOR_INTERVAL_S", "Seconds between signed chain-head anchors (0 turns anchoring off)."))
    anchor_sink: str = field(default="", metadata=_meta(
        "FLIGHTLOG_ANCHOR_SINK", "Where signed chain heads go: a file (JSON lines) or an http(s) webhook URL "
        "(default: <data dir>/anchors.jsonl; keep it off the store's machine for real protection)."))
    anchor_key: str = field(default="", metadata=_meta(
        "FLIGHTLOG_ANCHOR_KEY",
        "Ed25519 private key (PEM) that signs the anchors (default: <data dir>/anchor-key.pem, created on first start)."))
    alert_interval_s: int = field(default=60, metadata=_meta(
        "FLIGHTLOG_ALERT_INTERVAL_S", "Seconds between evaluations of every alert rule (0 turns alert evaluation off)."))
    online_eval_interval: float = field(default=2.0, metadata=_meta(
        "FLIGHTLOG_ONLINE_EVAL_INTERVAL",
        "Seconds between passes of the online evaluation job (0 turns it off); with collectors sharing a "
        "ClickHouse server only the one holding the online-eval lease runs a pass."))
    prices_file: str = field(default="", metadata=_meta(
        "FLIGHTLOG_PRICES_FILE", "JSON price table that replaces the shipped one (same format as collector/prices.json)."))
    store_lease_s: int = field(default=10, metadata=_meta(
        "FLIGHTLOG_STORE_LEASE_S",
        "Collectors sharing a ClickHouse server take turns to store spans; a turn of a collector that died "
        "runs out after this many seconds."))
    cache_poll_ms: int = field(default=1000, metadata=_meta(
        "FLIGHTLOG_CACHE_POLL_MS",
        "How often a collector asks the store whether keys, control state, policies or prices changed "
        "elsewhere (cached copies are dropped then)."))
    strict_responses: int = field(default=0, metadata=_meta(
        "FLIGHTLOG_STRICT_RESPONSES",
        "1 to check every JSON answer against its documented model (no extra keys) and answer 500 on a mismatch; for tests."))

    def __post_init__(self) -> None:
        self.data_dir = str(Path(self.data_dir).expanduser().resolve())
        if not self.dsn:
            self.dsn = f"chdb://{Path(self.data_dir) / 'store'}"

    @classmethod
    def from_env(cls, **overrides: Any) -> "Settings":
        """Defaults, then ``FLIGHTLOG_*`` variables, then non-None ``overrides``."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f.metadata["env"])
            if raw is not None and raw != "":
                if f.type in ("int", int):
                    try:
                        values[f.name] = int(raw)
                    except ValueError as exc:
                        raise ValueError(f"{f.metadata['env']} must be an integer, got {raw!r}") from exc
                elif f.type in ("float", float):
                    values[f.name] = _seconds(f.metadata["env"], raw)
                else:
                    values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _seconds(env: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < 10**6:  # also NaN
        raise ValueError(f"{env} must be a number of seconds from 0, got {raw!r}")
    return value


INSTANCE_ID_FILE = "instance-id"


def instance_id(data_dir: Path) -> str:
    """This collector's id among those sharing a store: made on first start, kept in the data dir."""
    path = data_dir / INSTANCE_ID_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    import socket
    import uuid

    value = f"{socket.gethostname()[:32]}-{uuid.uuid4().hex[:12]}"
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return value


def setting_table() -> list[tuple[str, str, str, str]]:
    """(name, env var, default, help) for every setting: the docs test reads this."""
    out = []
    for f in fields(Settings):
        default = f.default if f.default_factory is MISSING else "(user data dir)"
        out.append((f.name, f.metadata["env"], str(default), f.metadata["help"]))
    return out

