"""Datasets (``/api/datasets``, docs/evaluation.md): named sets of immutable items to evaluate on.

- create, add items (given, or made from a span of a stored trace): an engineer or admin key;
- list, show, read items and export them as JSONL or CSV: any read key.

A dataset's version is its item count: version N is the first N items, so a run or an export
that names a version always sees the same items. Adds to one dataset are serialised per
collector (docs/decisions/0020-datasets-are-append-only.md).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flightlog.storage import evaluation as db
from flightlog.storage.keys import KeyRecord
from flightlog.storage.queries import get_trace
from flightlog.storage.timewindow import iso

from flightlog.collector.api import models
from flightlog.collector.api.deps import CollectorDep, ReadKey, hex_id, require
from flightlog.collector.auth import ENGINEER_ROLES
from flightlog.collector.contract import ContractRoute, errors, respond
from flightlog.collector.errors import BadRequest, CollectorError, NotFound

router = APIRouter(prefix="/api/datasets", tags=["datasets"], route_class=ContractRoute)
EngineerKey = Annotated[KeyRecord, Depends(require(ENGINEER_ROLES))]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
DatasetName = Annotated[str, Path(pattern=NAME_PATTERN, description="The dataset's name.")]
MAX_ITEMS_PER_ADD = 1000
MAX_SPANS_PER_ADD = 200  # each names a stored trace to read
MAX_EXPORT_ITEMS = 100_000
EXPORT_MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
_add_lock = threading.Lock()


class Conflict(CollectorError):
    """The dataset already exists."""

    status = 409


class NewDataset(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="Letters, digits, '.', '_' and '-' (at most 100).")
    description: str = Field(default="", max_length=10_000)


class NewItem(BaseModel):
    input: Any = Field(description="What the task is called with (JSON).")
    expected: Any = Field(default=None, description="The expected output (JSON); leave out for none.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_trace_id: str = Field(default="", max_length=32)
    source_span_id: str = Field(default="", max_length=16)


class NewItems(BaseModel):
    items: list[NewItem] = Field(min_length=1, max_length=MAX_ITEMS_PER_ADD)


class FromTrace(BaseModel):
    trace_id: str = Field(min_length=32, max_length=32)
    span_id: str = Field(default="", max_length=16,
                         description="The span to take; default the trace's root agent run (else its first span).")
    metadata: dict[str, Any] = Field(default_factory=dict)


class SpanRef(BaseModel):
    trace_id: str = Field(min_length=32, max_length=32)
    span_id: str = Field(min_length=16, max_length=16)


class FromSpans(BaseModel):
    spans: list[SpanRef] = Field(min_length=1, max_length=MAX_SPANS_PER_ADD,
                                 description="The spans to make items of, in order (one item each).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Added to every item's metadata.")


def dataset_to_api(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["Name"], "id": row["DatasetId"], "description": row["Description"],
            "created_by": row["CreatedBy"], "created_at": iso(row["CreatedAt"]), "version": int(row["Items"]),
            "items": int(row["Items"]), "last_added_at": iso(row["LastAddedAt"]) if row["LastAddedAt"] else None}


def item_to_api(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["ItemId"], "seq": int(row["Seq"]), "input": json.loads(row["Input"]),
            "expected": json.loads(row["Expected"]) if row["HasExpected"] else None,
            "has_expected": bool(row["HasExpected"]), "metadata": json.loads(row["Metadata"] or "{}"),
            "source_trace_id": row["SourceTraceId"], "source_span_id": row["SourceSpanId"],
            "created_by": row["CreatedBy"], "created_at": iso(row["CreatedAt"])}


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def require_dataset(collector: Any, project: str, name: str) -> dict[str, Any]:
    row = db.get_dataset(collector.store, project, name)
    if row is None:
        raise NotFound(f"no dataset {name!r} in project {project!r}")
    return row


def _version(row: dict[str, Any], version: int | None) -> int:
    current = int(row["Items"])
    if version is None:
        return current
    if version > current:
        raise BadRequest(f"dataset {row['Name']!r} has {current} items: version {version} does not exist yet")
    return version


def _add(collector: Any, key: KeyRecord, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    with _add_lock:
        current = int(require_dataset(collector, key.project, name)["Items"])
        rows = db.add_items(collector.store, key.project, name, items, key.name or key.key_id, current)
    return {"dataset": name, "version": current + len(rows), "added": len(rows), "item_ids": [r["ItemId"] for r in rows]}


def _stored(item: NewItem) -> dict[str, Any]:
    for value, length, what in ((item.source_trace_id, 32, "source_trace_id"), (item.source_span_id, 16,
                                                                                 "source_span_id")):
        if value:
            hex_id(value, length, what)
    return {"Input": _dump(item.input), "Expected": None if item.expected is None else _dump(item.expected),
            "Metadata": _dump(item.metadata), "SourceTraceId": item.source_trace_id.lower(),
            "SourceSpanId": item.source_span_id.lower()}


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _expected(text: str) -> Any:
    """A recorded output as an item's expected value: None when nothing was recorded."""
    return _json_or_text(text) if text else None


# The roles of the `role: text` lines an LLM span's texts are stored as (collector/genai/render.py).
_MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "model", "function"})


def _messages(text: str) -> list[dict[str, str]] | None:
    """An LLM span's stored text as messages: one per `role: text` line, a line without a role
    continuing the message before it; None when the text does not start with a role."""
    messages: list[dict[str, str]] = []
    for line in text.split("\n"):
        role, sep, rest = line.partition(": ")
        if sep and role in _MESSAGE_ROLES:
            messages.append({"role": role, "content": rest})
        elif messages:
            messages[-1]["content"] += "\n" + line
        else:
            return None
    return messages or None


def _llm_item(span: dict[str, Any]) -> tuple[Any, Any]:
    """An LLM call's input as its messages, and what it answered as the expected output: the
    assistant's text alone (not "assistant: …"; JSON kept as JSON), or the messages when others
    spoke too."""
    given = _messages(span["input_text"]) or _json_or_text(span["input_text"])
    answer = _messages(span["output_text"]) if span["output_text"] else None
    if answer is None:
        return given, _expected(span["output_text"])
    if all(m["role"] == "assistant" for m in answer):
        return given, _json_or_text("\n".join(m["content"] for m in answer))
    return given, answer


def item_from_span(span: dict[str, Any]) -> dict[str, Any]:
    """A dataset item from a stored span: a tool call's arguments and result, an LLM call's
    messages and answer, else the span's input and output text (JSON values kept as JSON)."""
    is_tool = span["span_type"] == "tool" and span["tool_args"]
    if is_tool:
        given, expected = _json_or_text(span["tool_args"]), _expected(span["tool_result"])
    elif span["span_type"] == "llm":
        given, expected = _llm_item(span)
    else:
        given, expected = _json_or_text(span["input_text"]), _expected(span["output_text"])
    metadata = {k: span[c] for k, c in (("agent", "agent_name"), ("agent_version", "agent_version"),
                                         ("prompt_version", "prompt_version"), ("model", "request_model"),
                                         ("tool", "tool_name")) if span.get(c)}
    return {"input": given, "expected": expected, "metadata": {"span_name": span["span_name"], **metadata}}


def _span_item(collector: Any, project: str, traces: dict[str, Any], trace_id: str, span_id: str,
               metadata: dict[str, Any]) -> dict[str, Any]:
    """The stored item made from one span of a stored trace (ids as :func:`_checked_ids` gives them;
    ``traces``: those read so far, by id); NotFound / BadRequest naming the span when there is none."""
    if trace_id not in traces:
        traces[trace_id] = get_trace(collector.store, project, trace_id)
    trace = traces[trace_id]
    if trace is None:
        raise NotFound(f"no trace {trace_id} in project {project!r}")
    spans = trace["spans"]
    if span_id:
        span = next((s for s in spans if s["span_id"] == span_id), None)
        if span is None:
            raise NotFound(f"trace {trace_id} has no span {span_id}")
    else:
        span = next((s for s in spans if s["span_type"] == "agent"), spans[0])
    made = item_from_span(span)
    if not made["input"] and made["input"] != 0:
        raise BadRequest(f"span {span['span_id']} ({span['span_name']}) recorded no input to make an item of")
    made["metadata"].update(metadata)
    return _stored(NewItem(**made, source_trace_id=trace_id, source_span_id=span["span_id"]))


def _checked_ids(trace_id: str, span_id: str) -> tuple[str, str]:
    """The trace id and the (optional) span id, lower-cased; 400 when either is not hex of its length."""
    return hex_id(trace_id, 32, "trace_id"), hex_id(span_id, 16, "span_id") if span_id else ""


def _from_trace(collector: Any, key: KeyRecord, name: str, body: FromTrace) -> dict[str, Any]:
    trace_id, span_id = _checked_ids(body.trace_id, body.span_id)
    require_dataset(collector, key.project, name)
    item = _span_item(collector, key.project, {}, trace_id, span_id, body.metadata)
    return _add(collector, key, name, [item])


@contextlib.contextmanager
def _span_at(index: int) -> Iterator[None]:
    """A 400 / 404 about ``spans[index]`` of a from-spans request, named by its place."""
    try:
        yield
    except (NotFound, BadRequest) as exc:
        raise type(exc)(f"spans[{index}]: {exc.message}; nothing was added") from exc


def _from_spans(collector: Any, key: KeyRecord, name: str, body: FromSpans) -> dict[str, Any]:
    """Every span's item, or none: each span is looked up first, then all are added at once (one
    new version of the dataset)."""
    ids = []
    for index, ref in enumerate(body.spans):
        with _span_at(index):
            ids.append(_checked_ids(ref.trace_id, ref.span_id))
    require_dataset(collector, key.project, name)
    traces: dict[str, Any] = {}
    items = []
    for index, (trace_id, span_id) in enumerate(ids):
        with _span_at(index):
            items.append(_span_item(collector, key.project, traces, trace_id, span_id, body.metadata))
    return _add(collector, key, name, items)


@router.post("", summary="Create a dataset", response_model=models.Dataset,
             responses=errors(400, 401, 403, 409, 503))
async def create(key: EngineerKey, collector: CollectorDep, body: NewDataset) -> Response:
    def make() -> dict[str, Any]:
        with _add_lock:
            if db.get_dataset(collector.store, key.project, body.name) is not None:
                raise Conflict(f"dataset {body.name!r} already exists in project {key.project!r}")
            db.put_dataset(collector.store, key.project, body.name, body.description, key.name or key.key_id)
        return dataset_to_api(require_dataset(collector, key.project, body.name))

    return respond(await run_in_threadpool(make))


@router.get("", summary="The project's datasets", response_model=models.DatasetList, responses=errors(400, 401, 403, 503))
async def list_(key: ReadKey, collector: CollectorDep) -> Response:
    rows = await run_in_threadpool(db.list_datasets, collector.store, key.project)
    return respond({"datasets": [dataset_to_api(r) for r in rows]})


@router.get("/{name}", summary="One dataset (its version is its item count)", response_model=models.Dataset,
            responses=errors(400, 401, 403, 404, 503))
async def show(key: ReadKey, collector: CollectorDep, name: DatasetName) -> Response:
    return respond(dataset_to_api(await run_in_threadpool(require_dataset, collector, key.project, name)))


@router.get("/{name}/items", summary="Items of a dataset in order (of one version)", response_model=models.DatasetItemPage,
            responses=errors(400, 401, 403, 404, 503))
async def items(key: ReadKey, collector: CollectorDep, name: DatasetName,
                version: Annotated[int | None, Query(ge=0, description="Only the first N items; default all")] = None,
                limit: Annotated[int, Query(ge=1, le=db.MAX_PAGE)] = 100,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> Response:
    def read() -> dict[str, Any]:
        row = require_dataset(collector, key.project, name)
        at = _version(row, version)
        rows = db.dataset_items(collector.store, key.project, name, version=at, limit=limit, offset=offset)
        return {"dataset": name, "version": at, "items": [item_to_api(r) for r in rows], "total": at,
                "limit": limit, "offset": offset}

    return respond(await run_in_threadpool(read))


@router.post("/{name}/items", summary="Add items (they are never changed afterwards)", response_model=models.ItemsAdded,
             responses=errors(400, 401, 403, 404, 503))
async def add(key: EngineerKey, collector: CollectorDep, name: DatasetName, body: NewItems) -> Response:
    stored = [_stored(item) for item in body.items]
    return respond(await run_in_threadpool(_add, collector, key, name, stored))


@router.post("/{name}/items/from-trace", summary="Add an item made from a span of a stored trace",
             response_model=models.ItemsAdded, responses=errors(400, 401, 403, 404, 503))
async def add_from_trace(key: EngineerKey, collector: CollectorDep, name: DatasetName, body: FromTrace) -> Response:
    return respond(await run_in_threadpool(_from_trace, collector, key, name, body))


@router.post("/{name}/items/from-spans", summary="Add items made from spans of stored traces, all or none",
             response_model=models.ItemsAdded, responses=errors(400, 401, 403, 404, 503))
async def add_from_spans(key: EngineerKey, collector: CollectorDep, name: DatasetName, body: FromSpans) -> Response:
    return respond(await run_in_threadpool(_from_spans, collector, key, name, body))


def export_record(item: dict[str, Any]) -> dict[str, Any]:
    """An item as an export line: input, expected (left out when the item has none), metadata,
    and where it came from."""
    record: dict[str, Any] = {"id": item["id"], "input": item["input"]}
    if item["has_expected"]:
        record["expected"] = item["expected"]
    record["metadata"] = item["metadata"]
    for k in ("source_trace_id", "source_span_id"):
        if item[k]:
            record[k] = item[k]
    return record


CSV_COLUMNS = ("id", "input", "expected", "metadata", "source_trace_id", "source_span_id")


def _export_chunks(collector: Any, project: str, name: str, at: int, fmt: str) -> Iterator[bytes]:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
    offset = 0
    while offset < at:
        rows = db.dataset_items(collector.store, project, name, version=at, limit=db.MAX_PAGE, offset=offset)
        if not rows:
            break
        offset += len(rows)
        records = [export_record(item_to_api(r)) for r in rows]
        if fmt == "jsonl":
            yield "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
            continue
        for r in records:
            writer.writerow([r["id"], json.dumps(r["input"], ensure_ascii=False),
                             json.dumps(r["expected"], ensure_ascii=False) if "expected" in r else "",
                             json.dumps(r["metadata"], ensure_ascii=False), r.get("source_trace_id", ""),
                             r.get("source_span_id", "")])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if fmt == "csv" and buffer.tell():
        yield buffer.getvalue().encode()


@router.get("/{name}/export", summary="The items of a dataset version as JSONL or CSV", response_class=StreamingResponse,
            responses={200: {"description": "One item per JSONL line ({id, input, expected, metadata, source_trace_id, "
                                            "source_span_id}; expected left out when the item has none) or CSV row "
                                            "(the same columns, JSON cells; an empty expected cell means none).",
                             "content": {t: {"schema": {"type": "string"}} for t in EXPORT_MEDIA_TYPES.values()}},
                       **errors(400, 401, 403, 404, 503, non_json_route=True)})
async def export(key: ReadKey, collector: CollectorDep, name: DatasetName,
                 format: Literal["jsonl", "csv"] = "jsonl",
                 version: Annotated[int | None, Query(ge=0, description="The first N items; default all")] = None
                 ) -> StreamingResponse:
    row = await run_in_threadpool(require_dataset, collector, key.project, name)
    at = min(_version(row, version), MAX_EXPORT_ITEMS)
    filename = f"{name}-v{at}.{format}"
    return StreamingResponse(_export_chunks(collector, key.project, name, at, format),
                             media_type=EXPORT_MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                      "X-Flightlog-Dataset-Version": str(at)})
