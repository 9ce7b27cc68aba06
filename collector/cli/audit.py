"""Audit commands of the ``flightlog`` CLI: ``verify``, ``export``, ``verify-export``, ``retention``.

Each command works in one of two modes:

* ``--url URL --key KEY``: through a running collector's audit API (an auditor or admin key;
  the project is the key's). Use this while an embedded collector holds the store.
* direct: opens the store (``--data-dir`` / ``--dsn``, as ``serve``), so with the embedded
  engine the collector must be stopped (one process per data directory, docs/decisions/0001-the-collector-owns-the-store.md).

Registered by :mod:`.cli` with ``cli_audit.register(main)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from flightlog.collector.config import Settings
from flightlog.storage.timewindow import as_utc as _utc

DATE = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S"])


def _mode_options(func: Any) -> Any:
    func = click.option("--dsn", default=None, help="Direct mode: storage DSN [env FLIGHTLOG_DSN]")(func)
    func = click.option("--data-dir", default=None, help="Direct mode: data directory [env FLIGHTLOG_DATA_DIR]")(func)
    func = click.option("--key", envvar="FLIGHTLOG_API_KEY", default="",
                        help="Auditor or admin key for --url [env FLIGHTLOG_API_KEY]")(func)
    return click.option("--url", default="", help="Use a running collector's API instead of opening the store.")(func)


def _open_store(data_dir: str | None, dsn: str | None) -> Any:
    from flightlog.storage import StorageError, open_store

    settings = Settings.from_env(data_dir=data_dir, dsn=dsn)
    try:
        return open_store(settings.dsn)
    except StorageError as exc:
        raise click.ClickException(
            f"{exc}\nIs a collector running on this data directory? Use --url and --key instead.") from exc


def _client(url: str, key: str) -> Any:
    import httpx

    if not key:
        raise click.ClickException("--url needs --key (or FLIGHTLOG_API_KEY): an auditor or admin key")
    return httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=600)


def _check(resp: Any) -> Any:
    if resp.status_code >= 400:
        try:
            message = resp.json().get("error", resp.text)
        except ValueError:
            message = resp.text
        raise click.ClickException(f"HTTP {resp.status_code}: {message}")
    return resp.json()


def _time_params(start: datetime | None, end: datetime | None) -> dict[str, str]:
    out = {}
    if start:
        out["start"] = _utc(start).isoformat()  # type: ignore[union-attr]
    if end:
        out["end"] = _utc(end).isoformat()  # type: ignore[union-attr]
    return out


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(report["summary"])
        for stream in report.get("streams", []):
            name = stream["stream"] or "(before streams)"
            click.echo(f"  STREAM   {name}: {stream['batches']} batches, head #{stream['head']['seq']}")
        for span in report.get("chained_twice", {}).get("spans", []):
            click.echo(f"  TWICE    trace {span['trace_id']} span {span['span_id']}: in streams {', '.join(span['streams'])}")
        for kind, label in (("altered", "ALTERED"), ("deleted", "DELETED"), ("inserted_out_of_band", "INSERTED")):
            for span in report[kind]["spans"]:
                click.echo(f"  {label:8} trace {span['trace_id']} span {span['span_id']}")
        for span in report.get("cost_altered", {}).get("spans", []):
            click.echo(f"  COST     trace {span['trace_id']} span {span['span_id']}: ${span['cost_usd']} "
                       f"({span['reason']})")
        for hour in report.get("rollups_altered", {}).get("hours", []):
            click.echo(f"  ROLLUP   {hour['hour']}: rollup ${hour['rollup']['cost_usd']} / {hour['rollup']['spans']} spans, "
                       f"spans say ${hour['spans']['cost_usd']} / {hour['spans']['spans']}")
        for problem in report["chain_errors"]:
            click.echo(f"  CHAIN    {problem}")
    if not report["ok"]:
        raise SystemExit(1)


@click.command("verify")
@click.option("--project", default=None, help="Direct mode: the project to verify (with --url: the key's project).")
@click.option("--from", "start", type=DATE, default=None, help="Only spans starting at or after (UTC).")
@click.option("--to", "end", type=DATE, default=None, help="Only spans starting before (UTC).")
@click.option("--anchors", "anchors_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Also check the chain against the signed heads in this file (what the anchor sink wrote); "
                   "reports the first divergence.")
@click.option("--anchor-public-key", default=None,
              help="With --anchors: accept only anchors signed by this key (base64 Ed25519 public key, or a PEM file).")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@_mode_options
def verify_cmd(project: str | None, start: datetime | None, end: datetime | None, anchors_file: Path | None,
               anchor_public_key: str | None, as_json: bool, url: str, key: str, data_dir: str | None,
               dsn: str | None) -> None:
    """Recompute the hash chain; name altered, deleted and out-of-band spans (exit 1), or print OK."""
    from flightlog.collector.audit import anchors

    pinned = _public_key(anchor_public_key) if anchor_public_key else None
    if url:
        with _client(url, key) as client:
            report = _check(client.get("/api/audit/verify", params=_time_params(start, end)))
            if anchors_file is not None:
                records = anchors.read_anchors(anchors_file)
                seqs = sorted({int(r["seq"]) for _, r in records if r.get("project") == report["project"] and "seq" in r})
                chains: dict[str, dict[int, str]] = {}
                heads: dict[str, int] = {}
                for i in range(0, max(len(seqs), 1), 10_000):
                    chain = _check(client.get("/api/audit/chain", params={"seq": seqs[i:i + 10_000]}))
                    for r in chain["rows"]:
                        chains.setdefault(r.get("stream", ""), {})[int(r["seq"])] = r["hash"]
                    heads = {h.get("stream", ""): int(h["seq"]) for h in chain.get("heads", [])}
                result = anchors.check_streams(records, report["project"], chains, heads=heads,
                                               pinned_public_key=pinned)
                report = _with_anchors(report, result)
        _print_report(report, as_json)
        return
    if not project:
        raise click.ClickException("direct mode needs --project")
    from flightlog.collector.audit.chain import verify

    store = _open_store(data_dir, dsn)
    try:
        verified = verify(store, project, start=_utc(start), end=_utc(end))
        report = {**verified.to_dict(), "summary": verified.summary()}
        if anchors_file is not None:
            report = _with_anchors(report, anchors.verify_against_store(store, project, anchors_file,
                                                                        pinned_public_key=pinned))
    finally:
        store.close()
    _print_report(report, as_json)


def _with_anchors(report: dict[str, Any], result: Any) -> dict[str, Any]:
    return {**report, "ok": report["ok"] and result.ok, "anchors": result.to_dict(),
            "summary": report["summary"] + "\n" + result.summary()}


def _public_key(value: str) -> str:
    """A base64 raw Ed25519 public key, from the value itself or from a PEM file it names."""
    path = Path(value)
    if not path.is_file():
        return value
    from cryptography.hazmat.primitives import serialization

    from flightlog.collector.audit.anchors import public_key_text

    data = path.read_bytes()
    try:
        loaded: Any = serialization.load_pem_public_key(data)
    except ValueError:
        loaded = serialization.load_pem_private_key(data, password=None).public_key()
    return public_key_text(loaded)


def _remote_rows(client: Any, params: dict[str, Any], manifest_out: dict[str, Any]) -> Iterator[dict[str, Any]]:
    from flightlog.collector.audit.export import MANIFEST_KEY

    with client.stream("GET", "/api/audit/export", params={**params, "format": "jsonl"}) as resp:
        if resp.status_code >= 400:
            resp.read()
            _check(resp)
        for line in resp.iter_lines():
            if not line.strip():
                continue
            row = json.loads(line)
            if MANIFEST_KEY in row:
                manifest_out.update(row[MANIFEST_KEY])
                continue
            yield row


@click.command("export")
@click.option("--project", default=None, help="Direct mode: the project (with --url: the key's project).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl", show_default=True,
              help="File format.")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True,
              help="Output file; the manifest goes to OUT.manifest.json.")
@click.option("--from", "start", type=DATE, default=None, help="Spans starting at or after (UTC).")
@click.option("--to", "end", type=DATE, default=None, help="Spans starting before (UTC).")
@click.option("--agent", default="", help="Only this agent's spans.")
@click.option("--user", default="", help="Only this user's spans.")
@click.option("--trace-id", "trace_ids", multiple=True, help="Only these traces (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_mode_options
def export_cmd(project: str | None, fmt: str, out: str, start: datetime | None, end: datetime | None, agent: str,
               user: str, trace_ids: tuple[str, ...], quiet: bool, url: str, key: str, data_dir: str | None,
               dsn: str | None) -> None:
    """Export spans (constant memory) with a manifest that `flightlog verify-export` checks offline."""
    from flightlog.collector.audit import export

    params: dict[str, Any] = {**_time_params(start, end), "agent": agent, "user": user, "trace_id": list(trace_ids)}
    out_path = Path(out)
    store = client = None
    remote_manifest: dict[str, Any] = {}
    try:
        if url:
            client = _client(url, key)
            total = _check(client.get("/api/audit/export/count", params=params))["spans"]
            rows = _remote_rows(client, params, remote_manifest)
            project = "(key's project)"
        else:
            if not project:
                raise click.ClickException("direct mode needs --project")
            from flightlog.storage import audit as db

            store = _open_store(data_dir, dsn)
            flt = db.ExportFilter(start=_utc(start), end=_utc(end), agent=agent, user=user,
                                  trace_ids=[t.lower() for t in trace_ids])
            total = db.export_count(store, project, flt)
            rows = export.iter_spans(store, project, flt)
        builder = export.ManifestBuilder(project=project or "", fmt=fmt, filters={k: v for k, v in params.items() if v})
        with click.progressbar(length=total, label=f"exporting {total} spans", hidden=quiet) as bar:
            def counted() -> Iterator[dict[str, Any]]:
                for row in builder.observe(rows):
                    bar.update(1)
                    yield row

            with out_path.open("wb") as sink:
                if fmt == "parquet":
                    export.write_parquet(counted(), sink)
                else:
                    for chunk in export.chunks(fmt, counted()):
                        sink.write(chunk)
        digest = export.file_sha256(out_path)
        if store is not None:
            manifest = builder.build(store, sha256=digest)
        else:
            manifest = {**remote_manifest, "format": fmt, "sha256": digest}
            if int(manifest.get("spans", -1)) != builder.count:
                raise click.ClickException(f"received {builder.count} spans, the server's manifest says "
                                           f"{manifest.get('spans')}")
    finally:
        if store is not None:
            store.close()
        if client is not None:
            client.close()
    manifest_path = out_path.with_name(out_path.name + ".manifest.json")
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    click.echo(f"wrote {builder.count} spans to {out_path} and the manifest to {manifest_path}")


@click.command("verify-export")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--manifest", "manifest_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Defaults to PATH.manifest.json.")
def verify_export_cmd(path: str, manifest_path: str | None) -> None:
    """Check an export file against its manifest offline (no collector, no store)."""
    from flightlog.collector.audit.export import verify_export

    manifest = json.loads(Path(manifest_path or path + ".manifest.json").read_text())
    check = verify_export(path, manifest)
    if check.ok:
        click.echo(f"OK: {check.spans} spans match the manifest and their chain hashes")
        return
    click.echo(f"FAILED: {len(check.problems)} problems in {check.spans} spans")
    for problem in check.problems[:200]:
        click.echo(f"  {problem}")
    raise SystemExit(1)


@click.group("retention")
def retention() -> None:
    """Retention and legal holds (admin key with --url, or direct on a stopped store)."""


@retention.command("run")
@click.option("--project", default=None, help="Direct mode: the project (default: every project with a policy).")
@_mode_options
def retention_run(project: str | None, url: str, key: str, data_dir: str | None, dsn: str | None) -> None:
    """Apply retention now; legal holds suspend or narrow it; deletions are recorded for verify."""
    if url:
        with _client(url, key) as client:
            click.echo(json.dumps(_check(client.post("/api/admin/retention/run")), indent=2))
        return
    import time

    from flightlog.storage import governance as gov

    from flightlog.collector.audit.chain import apply_retention

    store = _open_store(data_dir, dsn)
    try:
        projects = [project] if project else sorted(gov.retention_policies(store))
        for p in projects:
            click.echo(json.dumps(apply_retention(store, p, now_ns=time.time_ns(), actor="cli").to_dict()))
    finally:
        store.close()


@retention.command("set")
@click.argument("days", type=click.IntRange(0, 36_500))
@click.option("--project", default=None, help="Project (default: the admin key's).")
@_mode_options
def retention_set(days: int, project: str | None, url: str, key: str, data_dir: str | None, dsn: str | None) -> None:
    """Keep spans DAYS days (0 = forever)."""
    if url:
        with _client(url, key) as client:
            click.echo(json.dumps(_check(client.put("/api/admin/retention", json={"days": days, "project": project}))))
        return
    if not project:
        raise click.ClickException("direct mode needs --project")
    from flightlog.storage import governance as gov

    store = _open_store(data_dir, dsn)
    try:
        before = gov.retention_policies(store, project).get(project, 0)
        gov.set_retention(store, project, days, "cli")
        gov.log_change(store, project, "cli", "retention.set", {"days": days, "before": before})
    finally:
        store.close()
    click.echo(json.dumps({"project": project, "days": days}))


def register(main_group: click.Group) -> None:
    """Add the audit commands to the ``flightlog`` group."""
    for command in (verify_cmd, export_cmd, verify_export_cmd, retention):
        main_group.add_command(command)
