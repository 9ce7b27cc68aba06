"""``flightlog datasets``: create datasets, add and import items, export and list them
(docs/evaluation.md). Each command talks to a running collector's API with ``--url URL --key KEY``
(reads: any read key; writes: an engineer or admin key).

Registered by :mod:`.main` (``register(main)``).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from flightlog.collector.cli.control import _call, _options

#: Items sent per request when importing a file.
IMPORT_BATCH = 500


def _json(value: str, option: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=option) from exc


@click.group("datasets")
def datasets() -> None:
    """Datasets of immutable items (input, expected output, metadata) to evaluate agents on."""


@datasets.command("create")
@click.argument("name")
@click.option("--description", default="", help="What the dataset holds.")
@_options
def create(name: str, description: str, url: str, key: str) -> None:
    """Create the dataset NAME (an engineer or admin key)."""
    made = _call(url, key, "POST", "/api/datasets", body={"name": name, "description": description})
    click.echo(f"dataset {made['name']} created (version {made['version']})")


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the datasets as a JSON list.")
@_options
def list_(as_json: bool, url: str, key: str) -> None:
    """The project's datasets: name, version (= items) and when items were last added."""
    found = _call(url, key, "GET", "/api/datasets")["datasets"]
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for d in found:
        click.echo(f"{d['name']}  version {d['version']}  ({d['items']} items, last added {d['last_added_at'] or '-'})"
                   + (f"  {d['description']}" if d["description"] else ""))


@datasets.command("add")
@click.argument("name")
@click.option("--input", "input_", default=None, help="The item's input (JSON).")
@click.option("--expected", default=None, help="The expected output (JSON).")
@click.option("--metadata", default=None, help="Metadata (a JSON object).")
@click.option("--from-trace", "trace_id", default=None,
              help="Make the item from a stored trace: input from its run (or --span-id's span), expected from its output.")
@click.option("--span-id", default="", help="With --from-trace: the span to take (default the trace's agent run).")
@_options
def add(name: str, input_: str | None, expected: str | None, metadata: str | None, trace_id: str | None,
        span_id: str, url: str, key: str) -> None:
    """Add one item to NAME, given or made from production (--from-trace)."""
    meta = _json(metadata, "--metadata") if metadata is not None else {}
    if not isinstance(meta, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--metadata")
    if trace_id is not None:
        if input_ is not None or expected is not None:
            raise click.UsageError("--from-trace takes input and expected from the trace: leave out --input/--expected")
        added = _call(url, key, "POST", f"/api/datasets/{name}/items/from-trace",
                      body={"trace_id": trace_id, "span_id": span_id, "metadata": meta})
    else:
        if input_ is None:
            raise click.UsageError("give --input JSON (or --from-trace TRACE_ID)")
        if span_id:
            raise click.UsageError("--span-id goes with --from-trace")
        item: dict[str, Any] = {"input": _json(input_, "--input"), "metadata": meta}
        if expected is not None:
            item["expected"] = _json(expected, "--expected")
        added = _call(url, key, "POST", f"/api/datasets/{name}/items", body={"items": [item]})
    click.echo(f"item {added['item_ids'][0]} added: {name} is at version {added['version']}")


def read_items(path: Path) -> Iterator[dict[str, Any]]:
    """Items of a JSONL file (one ``{"input": …, "expected": …, "metadata": {…}}`` a line) or a
    CSV file (columns input, expected, metadata with JSON cells; an empty expected cell: none)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "input" not in reader.fieldnames:
            raise click.ClickException(f"{path}: a CSV import needs an 'input' column (and optionally expected, metadata)")
        for line, row in enumerate(reader, start=2):
            yield _item(row, f"{path}:{line}", csv_cells=True)
        return
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise click.ClickException(f"{path}:{line}: not JSON: {exc}") from exc
        if not isinstance(record, dict):
            raise click.ClickException(f"{path}:{line}: each line is an object with input, expected, metadata")
        yield _item(record, f"{path}:{line}", csv_cells=False)


def _item(record: dict[str, Any], where: str, *, csv_cells: bool) -> dict[str, Any]:
    def cell(name: str) -> Any:
        value = record.get(name)
        if not csv_cells:
            return value
        if value is None or value == "":
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            raise click.ClickException(f"{where}: the {name} cell is not JSON: {exc}") from exc

    if "input" not in record or (csv_cells and not record["input"]):
        raise click.ClickException(f"{where}: no input")
    item: dict[str, Any] = {"input": cell("input")}
    if csv_cells and (record.get("expected") or "") != "" or not csv_cells and "expected" in record:
        item["expected"] = cell("expected")
    metadata = cell("metadata") or {}
    if not isinstance(metadata, dict):
        raise click.ClickException(f"{where}: metadata must be a JSON object")
    item["metadata"] = metadata
    for name in ("source_trace_id", "source_span_id"):
        if record.get(name):
            item[name] = record[name]
    return item


@datasets.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_options
def import_(name: str, file: Path, url: str, key: str) -> None:
    """Add every item of FILE (.jsonl, or .csv with input/expected/metadata columns) to NAME."""
    items = list(read_items(file))
    if not items:
        raise click.ClickException(f"{file}: no items")
    version = 0
    for start in range(0, len(items), IMPORT_BATCH):
        added = _call(url, key, "POST", f"/api/datasets/{name}/items", body={"items": items[start:start + IMPORT_BATCH]})
        version = added["version"]
    click.echo(f"{len(items)} items imported: {name} is at version {version}")


@datasets.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--version", type=click.IntRange(0), default=None, help="The first N items (default: all).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: standard output).")
@_options
def export(name: str, fmt: str, version: int | None, out: Path | None, url: str, key: str) -> None:
    """The items of NAME as JSONL or CSV (input, expected, metadata; import reads them back)."""
    import httpx

    params: dict[str, Any] = {"format": fmt}
    if version is not None:
        params["version"] = version
    try:
        with httpx.stream("GET", url.rstrip("/") + f"/api/datasets/{name}/export", params=params, timeout=120,
                          headers={"Authorization": f"Bearer {key}"}) as resp:
            if resp.status_code >= 400:
                resp.read()
                try:
                    message = resp.json().get("error", resp.text)
                except ValueError:
                    message = resp.text
                raise click.ClickException(f"HTTP {resp.status_code}: {message}")
            sink = out.open("wb") if out is not None else sys.stdout.buffer
            try:
                for chunk in resp.iter_bytes():
                    sink.write(chunk)
            finally:
                if out is not None:
                    sink.close()
                else:
                    sink.flush()
            at = resp.headers.get("x-flightlog-dataset-version", "?")
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from exc
    if out is not None:
        click.echo(f"{name} version {at} written to {out}", err=True)


def register(main: click.Group) -> None:
    main.add_command(datasets)
