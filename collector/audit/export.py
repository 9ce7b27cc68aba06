"""Span exports: JSONL, CSV and Parquet writers, a read-back, and the offline-verifiable manifest.

Rows are dicts keyed by ``spans`` column names (storage/schema.py), times as unix nanoseconds
(``Timestamp``, ``Events.Timestamp``) and IngestTime as unix milliseconds; map and array
columns are JSON text in CSV and Parquet. Rows are written as they come (page by page), so
memory stays constant however many spans an export holds.

The **manifest** lists the count, the data file's sha256, and every chain link (Seq,
PrevHash, Hash, BatchId) the exported spans belong to. :func:`verify_export` re-reads the
file offline and checks that each span still hashes to the value in its ChainHash, that each
span's batch is in the manifest and that the listed links hash correctly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flightlog.storage import Store
from flightlog.storage import audit as db
from flightlog.storage.schema import SPAN_COLUMNS, span_row_values

from flightlog.collector.audit.chain import link_hash, parse_chain_hash, span_hash

FORMATS = ("jsonl", "csv", "parquet")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8",
               "parquet": "application/vnd.apache.parquet"}
PAGE_ROWS = 1000
PARQUET_ROW_GROUP = 5000
MANIFEST_KEY = "flightlog_manifest"
_DEFAULTS = dict(zip(SPAN_COLUMNS, span_row_values({}), strict=True))
_NESTED = frozenset(c for c, d in _DEFAULTS.items() if isinstance(d, (dict, list)))
_INTS = frozenset(c for c, d in _DEFAULTS.items() if isinstance(d, int) and not isinstance(d, bool))
_FLOATS = frozenset(c for c, d in _DEFAULTS.items() if isinstance(d, float))
_BOOLS = frozenset(c for c, d in _DEFAULTS.items() if isinstance(d, bool))


def iter_spans(store: Store, project: str, flt: db.ExportFilter, *, page: int = PAGE_ROWS) -> Iterator[dict[str, Any]]:
    """Every span the filter selects, in (Timestamp, TraceId, SpanId) order, one page in memory."""
    after = None
    while True:
        rows = db.export_page(store, project, flt, after, page)
        yield from (_plain(r) for r in rows)
        if len(rows) < page:
            return
        last = rows[-1]
        after = (int(last["Timestamp"]), last["TraceId"], last["SpanId"])


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """Driver values as JSON-ready ones (dicts for maps, lists for arrays)."""
    out = {}
    for col, value in row.items():
        if isinstance(value, tuple):
            value = list(value)
        if col == "Events.Attributes" or col == "Links.Attributes":
            value = [dict(v) for v in value]
        out[col] = value
    return out


def _cell(col: str, value: Any) -> Any:
    if col in _NESTED:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def parse_cell(col: str, value: Any) -> Any:
    """A CSV/Parquet cell back to its row value."""
    if col in _NESTED:
        return json.loads(value) if isinstance(value, str) and value else _DEFAULTS[col]
    if col in _INTS:
        return int(value) if value not in ("", None) else 0
    if col in _FLOATS:
        return float(value) if value not in ("", None) else 0.0
    if col in _BOOLS:  # CSV spells them True/False
        return value in (True, 1, "True", "true", "1")
    return "" if value is None else str(value)


# -- writers -------------------------------------------------------------------------------
def jsonl_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for row in rows:
        yield (json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode()


def csv_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(SPAN_COLUMNS)
    for i, row in enumerate(rows):
        writer.writerow([_cell(c, row.get(c, _DEFAULTS[c])) for c in SPAN_COLUMNS])
        if i % 200 == 199:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def _arrow_schema() -> Any:
    import pyarrow as pa

    def kind(col: str) -> Any:
        if col in _INTS:
            return pa.int64() if col != "Duration" else pa.uint64()
        if col in _FLOATS:
            return pa.float64()
        if col in _BOOLS:
            return pa.bool_()
        return pa.string()

    return pa.schema([(c, kind(c)) for c in SPAN_COLUMNS])


def write_parquet(rows: Iterable[dict[str, Any]], sink: IO[bytes], *, row_group: int = PARQUET_ROW_GROUP) -> None:
    """Write row groups of ``row_group`` spans as they come (constant memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema()
    with pq.ParquetWriter(sink, schema) as writer:
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            cols = {c: [_cell(c, r.get(c, _DEFAULTS[c])) for r in batch] for c in SPAN_COLUMNS}
            writer.write_table(pa.table(cols, schema=schema))
            batch.clear()

        for row in rows:
            batch.append(row)
            if len(batch) >= row_group:
                flush()
        if batch:
            flush()


class _ChunkSink(io.RawIOBase):
    """A write-only file that hands out what was written (parquet → HTTP stream)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.chunks.append(bytes(b))
        return len(b)


def parquet_chunks(rows: Iterable[dict[str, Any]], *, row_group: int = PARQUET_ROW_GROUP) -> Iterator[bytes]:
    """Parquet bytes produced one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema()
    sink = _ChunkSink()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema)
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= row_group:
            writer.write_table(pa.table({c: [_cell(c, r.get(c, _DEFAULTS[c])) for r in batch] for c in SPAN_COLUMNS},
                                        schema=schema))
            batch.clear()
            yield b"".join(sink.chunks)
            sink.chunks.clear()
    if batch:
        writer.write_table(pa.table({c: [_cell(c, r.get(c, _DEFAULTS[c])) for r in batch] for c in SPAN_COLUMNS},
                                    schema=schema))
    writer.close()
    yield b"".join(sink.chunks)


def chunks(fmt: str, rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    if fmt == "jsonl":
        return jsonl_chunks(rows)
    if fmt == "csv":
        return csv_chunks(rows)
    if fmt == "parquet":
        return parquet_chunks(rows)
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


# -- read-back -------------------------------------------------------------------------------
def read_export(path: str | Path, fmt: str | None = None) -> Iterator[dict[str, Any]]:
    """Rows of an export file (JSONL, CSV or Parquet), typed as they were written."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    if MANIFEST_KEY not in row:
                        yield row
    elif fmt == "csv":
        csv.field_size_limit(1 << 30)
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                yield {c: parse_cell(c, rec.get(c)) for c in SPAN_COLUMNS if c in rec}
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=PAGE_ROWS):
            for rec in batch.to_pylist():
                yield {c: parse_cell(c, v) for c, v in rec.items()}
    else:
        raise ValueError(f"unknown export format {fmt!r}")


# -- manifest ------------------------------------------------------------------------------
def _batch_of(chain_hash: str) -> tuple[str, int] | None:
    """(stream, seq) of the batch a ChainHash value names."""
    parsed = parse_chain_hash(chain_hash)
    return (parsed[0], parsed[1]) if parsed else None


@dataclass
class ManifestBuilder:
    """Counts rows and collects the chain batches they belong to while an export streams."""

    project: str
    fmt: str
    filters: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    unchained: int = 0
    batches: set[tuple[str, int]] = field(default_factory=set)
    first_ns: int | None = None
    last_ns: int | None = None

    def observe(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            self.count += 1
            batch = _batch_of(row.get("ChainHash", ""))
            if batch is None:
                self.unchained += 1
            else:
                self.batches.add(batch)
            ts = int(row.get("Timestamp") or 0)
            self.first_ns = ts if self.first_ns is None else min(self.first_ns, ts)
            self.last_ns = ts if self.last_ns is None else max(self.last_ns, ts)
            yield row

    def build(self, store: Store, *, sha256: str = "") -> dict[str, Any]:
        links = [link for link in db.chain_links_for(store, self.project, {seq for _, seq in self.batches})
                 if (str(link["Stream"]), int(link["Seq"])) in self.batches]
        heads = db.chain_heads(store, self.project)
        head = heads[0] if heads else None
        return {
            "project": self.project, "format": self.fmt, "filters": self.filters, "spans": self.count,
            "unchained_spans": self.unchained, "first_ns": self.first_ns, "last_ns": self.last_ns,
            "sha256": sha256,
            "chain": [{"stream": str(link["Stream"]), "seq": int(link["Seq"]), "batch_id": link["Bid"],
                       "prev_hash": link["Prev"], "hash": link["LinkHash"], "spans": int(link["N"])} for link in links],
            "head": {"seq": head[1], "hash": head[2], "stream": head[0]} if head else None,
            "heads": [{"stream": stream, "seq": seq, "hash": hash_} for stream, seq, hash_ in heads],
            "hash_rule": "span: sha256(canonical JSON, flightlog.collector.audit.chain.canonical);"
                         " link: sha256(prev_hash + batch_id)",
        }


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ExportCheck:
    """What :func:`verify_export` found."""

    spans: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_export(path: str | Path, manifest: dict[str, Any], *, fmt: str | None = None,
                  progress: Callable[[int], None] | None = None) -> ExportCheck:
    """Check an export against its manifest with no access to the store."""
    check = ExportCheck()
    fmt = fmt or manifest.get("format")
    if manifest.get("sha256") and file_sha256(path) != manifest["sha256"]:
        check.problems.append("the file's sha256 differs from the manifest")
    links = {(str(link.get("stream") or ""), int(link["seq"])): link for link in manifest.get("chain", [])}
    for (stream, seq), link in sorted(links.items()):
        at = f"stream {stream}: " if stream else ""
        if link_hash(link["prev_hash"], link["batch_id"]) != link["hash"]:
            check.problems.append(f"{at}chain link #{seq} does not hash to its recorded value")
        before = links.get((stream, seq - 1))
        if before is not None and link["prev_hash"] != before["hash"]:
            check.problems.append(f"{at}chain link #{seq} does not follow link #{seq - 1}")
    for row in read_export(path, fmt):
        check.spans += 1
        if progress and check.spans % 1000 == 0:
            progress(1000)
        parsed = parse_chain_hash(row.get("ChainHash", ""))
        where = f"span {row.get('TraceId')}/{row.get('SpanId')}"
        if parsed is None:
            check.problems.append(f"{where} carries no chain hash")
            continue
        stream, seq, digest = parsed
        if span_hash(row) != digest:
            check.problems.append(f"{where} was altered (its content no longer hashes to its chain hash)")
        if (stream, seq) not in links:
            at = f" of stream {stream}" if stream else ""
            check.problems.append(f"{where} belongs to batch #{seq}{at}, which the manifest does not list")
    if check.spans != int(manifest.get("spans", -1)):
        check.problems.append(f"the file holds {check.spans} spans, the manifest says {manifest.get('spans')}")
    return check
