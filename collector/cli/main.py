"""The ``flightlog`` command: ``up``, ``serve``, ``ui``, ``demo`` and ``keys``.

Thin: options come from the settings table in :mod:`.config`, commands build the
app and hand off. The UI is imported lazily so the server extra alone still works.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import fields
from importlib import resources
from typing import Any

import click

from flightlog.collector import runtime
from flightlog.collector.bootstrap import dev_keys_path
from flightlog.collector.config import INGEST_WORKERS_ENV, Settings, default_ingest_workers

HEALTH_TIMEOUT_S = 120.0


def _settings_options(func: Any, *, only: tuple[str, ...] = ()) -> Any:
    """Add one ``--option`` per setting (default None so env and defaults still apply);
    ``only`` limits them to the named settings."""
    for f in reversed(fields(Settings)):
        if only and f.name not in only:
            continue
        opt = "--" + f.name.replace("_", "-")
        kind: Any = int if f.type in ("int", int) else click.FloatRange(0, 10**6, max_open=True) \
            if f.type in ("float", float) else str
        func = click.option(opt, f.name, type=kind, default=None,
                            help=f"{f.metadata['help']} [env {f.metadata['env']}]")(func)
    return func


def _server_settings(overrides: dict[str, Any]) -> Settings:
    """Settings for ``up`` and ``serve``: as :meth:`Settings.from_env`, with one ingest worker
    by default on a machine with two cores or more (docs/performance.md, "Ingest workers")."""
    settings = Settings.from_env(**overrides)
    if overrides.get("ingest_workers") is None and not os.environ.get(INGEST_WORKERS_ENV):
        settings.ingest_workers = default_ingest_workers()
    return settings


def _store_options(func: Any) -> Any:
    """The settings that say where the store is, for commands that open it themselves."""
    return _settings_options(func, only=("data_dir", "dsn"))


def _wait_healthy(url: str, timeout_s: float = HEALTH_TIMEOUT_S, proc: Any = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and not proc.is_alive():
            raise click.ClickException("the collector stopped during start-up (see the log above)")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # start-up polling with a deadline, not synchronisation of a test
    raise click.ClickException(f"{url} did not answer within {timeout_s:.0f}s")


def _ui_command(host: str, port: int) -> list[str]:
    app = resources.files("flightlog.ui") / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",  # no Deploy button or developer options
    ]


def _keys_banner(keys: dict[str, str], data_dir: str) -> str:
    """The first keys' secrets on the start that created them; afterwards, where they are."""
    if getattr(keys, "created", False):
        return (f"  Ingest key:   {keys.get('ingest_key', '')}\n"
                f"  Read key:     {keys.get('read_key', '')}\n"
                f"  Admin key:    {keys.get('admin_key', '')}\n"
                "  (shown once; also kept in " + str(dev_keys_path(data_dir)) + ", mode 0600)\n")
    if keys:
        return (f"  Keys:         created on the first start; the secrets are in {dev_keys_path(data_dir)}"
                " (mode 0600)\n")
    return "  Keys:         created earlier; see flightlog keys list, or flightlog keys create\n"


class _ServerThread(threading.Thread):
    """uvicorn in a thread so ``up`` can also supervise the UI process."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="flightlog-collector", daemon=True)
        import uvicorn

        from flightlog.collector.app import create_app

        self.app = create_app(settings)
        from flightlog.collector.logconfig import log_config

        config = uvicorn.Config(self.app, host=settings.host, port=settings.port,
                                log_config=log_config(settings.log_format, "warning"))
        self.server = uvicorn.Server(config)
        # uvicorn has no public switch for this; the main thread handles Ctrl-C
        setattr(self.server, "install_signal_handlers", lambda: None)  # noqa: B010 - keeps mypy quiet too

    def run(self) -> None:
        self.server.run()

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(30)


@click.group()
@click.version_option(package_name="flightlog")
def main() -> None:
    """Flightlog: the flight recorder for AI agents."""


@main.command()
@click.option("--demo", is_flag=True, help="Load realistic demo traces (including one incident) after start.")
@click.option("--no-ui", is_flag=True, help="Start only the collector and query API.")
@_settings_options
def up(demo: bool, no_ui: bool, **overrides: Any) -> None:
    """Start the collector, query API and UI on the embedded store; Ctrl-C stops all."""
    settings = _server_settings(overrides)
    os.makedirs(settings.data_dir, exist_ok=True)
    runtime.tune_process()
    server = _ServerThread(settings)
    server.start()
    base = f"http://{settings.host}:{settings.port}"
    _wait_healthy(f"{base}/healthz", proc=server)
    keys = server.app.state.collector.dev_keys
    ui_proc = None
    if not no_ui:
        env = {**os.environ, "FLIGHTLOG_API_URL": base, "FLIGHTLOG_API_KEY": keys.get("read_key", "")}
        ui_proc = subprocess.Popen(_ui_command(settings.host, settings.ui_port), env=env)
    if demo:
        sent = _send_demo(base, keys.get("ingest_key", ""), keys.get("admin_key", ""))
        click.echo(f"Loaded demo data: {sent} spans.")
    shown_ingest = keys.get("ingest_key", "<ingest key>") if getattr(keys, "created", False) else "<ingest key>"
    click.echo(
        "\nFlightlog is running.\n"
        f"  Store:        {settings.dsn}\n"
        f"  OTLP/HTTP:    {base}/v1/traces\n"
        + (f"  OTLP/gRPC:    {settings.host}:{settings.grpc_port}\n" if settings.grpc_port else "")
        + f"  Query API:    {base}/api  (OpenAPI: {base}/docs)\n"
        + ("" if no_ui else f"  UI:           http://{settings.host}:{settings.ui_port}\n")
        + f"  Project:      {keys.get('project', settings.project)}\n"
        + _keys_banner(keys, settings.data_dir)
        + "\nSend traces with:\n"
        f"  export OTEL_EXPORTER_OTLP_ENDPOINT={base}\n"
        f"  export OTEL_EXPORTER_OTLP_HEADERS=x-api-key={shown_ingest}\n"
        "Press Ctrl-C to stop.",
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C stops all, even when started in the background by a shell, which starts such
    # processes with SIGINT ignored (Python then raises no KeyboardInterrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while not stop.is_set() and server.is_alive():
            if ui_proc is not None and ui_proc.poll() is not None:
                click.echo("The UI process exited; stopping.", err=True)
                break
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("Stopping…")
        if ui_proc is not None and ui_proc.poll() is None:
            ui_proc.terminate()
            try:
                ui_proc.wait(15)
            except subprocess.TimeoutExpired:
                ui_proc.kill()
        server.stop()
        click.echo("Stopped.")


@main.command()
@_settings_options
def serve(**overrides: Any) -> None:
    """Start only the collector and query API (for a team deployment or behind a load balancer)."""
    import uvicorn

    from flightlog.collector.app import create_app

    from flightlog.collector.logconfig import log_config

    settings = _server_settings(overrides)
    os.makedirs(settings.data_dir, exist_ok=True)
    runtime.tune_process()
    try:
        logging_config = log_config(settings.log_format, settings.log_level)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-format") from exc
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=logging_config,
                timeout_graceful_shutdown=30)


@main.command()
@click.option("--api-url", envvar="FLIGHTLOG_API_URL", default="http://127.0.0.1:4318", show_default=True,
              help="Query API base URL [env FLIGHTLOG_API_URL]")
@click.option("--api-key", envvar="FLIGHTLOG_API_KEY", default="", help="Read key [env FLIGHTLOG_API_KEY]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the UI listens on.")
@click.option("--port", default=8501, show_default=True, type=int, help="UI port.")
def ui(api_url: str, api_key: str, host: str, port: int) -> None:
    """Start only the Streamlit UI against a running collector."""
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise click.ClickException("the UI needs the ui extra: pip install 'flightlog[ui]'") from None
    env = {**os.environ, "FLIGHTLOG_API_URL": api_url, "FLIGHTLOG_API_KEY": api_key}
    raise SystemExit(subprocess.call(_ui_command(host, port), env=env))


def _send_demo(base_url: str, ingest_key: str, admin_key: str = "") -> int:
    """Send the demo traces; with an admin key, also set up the demo's control loop (the refund
    policy, a pending, a decided and an expired approval, and a paused agent version) and its
    alert rules (replayed over the demo's days: the refund-amount rule fires on the v7 rollout) and
    evaluation (the refund-regressions dataset, experiments for prompts v6 and v7)."""
    from flightlog.collector.demo.control import seed_control
    from flightlog.collector.demo.evaluation import seed_evaluation
    from flightlog.collector.demo.scenario import build_demo_requests

    sent = 0
    for request in build_demo_requests():
        req = urllib.request.Request(
            f"{base_url}/v1/traces",
            data=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {ingest_key}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=60):
                pass
        except urllib.error.HTTPError as exc:
            raise click.ClickException(f"demo upload refused: HTTP {exc.code} {exc.read()[:300]!r}") from exc
        sent += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if admin_key:
        try:
            seed_control(base_url, ingest_key, admin_key)
            seed_evaluation(base_url, admin_key)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
    _wait_stored(base_url)
    if admin_key:  # the demo's alert rules replay over the stored spans
        from flightlog.collector.demo.alerts import seed_alerts

        try:
            seed_alerts(base_url, admin_key)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from exc
    return sent


def _wait_stored(base_url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """Wait until the collector's spool is empty, so what was sent is searchable."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=5) as resp:
                if json.load(resp)["spool"]["rows"] == 0:
                    return
        except urllib.error.HTTPError as exc:
            if json.load(exc)["spool"]["rows"] == 0:
                return
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            pass
        time.sleep(0.1)  # polling with a deadline


@main.command()
@click.option("--url", default="http://127.0.0.1:4318", show_default=True, help="Collector base URL.")
@click.option("--key", envvar="FLIGHTLOG_API_KEY", required=True, help="Ingest key [env FLIGHTLOG_API_KEY]")
@click.option("--admin-key", envvar="FLIGHTLOG_ADMIN_KEY", default="",
              help="Admin key: also set up the demo's approvals, policy, pause and alert rules [env FLIGHTLOG_ADMIN_KEY]")
def demo(url: str, key: str, admin_key: str) -> None:
    """Send the demo traces to a running collector over OTLP/HTTP."""
    click.echo(f"Sent {_send_demo(url.rstrip('/'), key, admin_key)} demo spans.")


@main.group()
def keys() -> None:
    """Create, list and revoke API keys (opens the store: stop an embedded collector first)."""


def _open(overrides: dict[str, Any]) -> Any:
    from flightlog.storage import StorageError, open_store

    settings = Settings.from_env(**overrides)
    try:
        return open_store(settings.dsn)
    except StorageError as exc:
        raise click.ClickException(
            f"{exc}\nIs a collector running on this data directory? The embedded store allows one process."
        ) from exc


def _remote_options(func: Any) -> Any:
    func = click.option("--admin-key", envvar="FLIGHTLOG_ADMIN_KEY", default="",
                        help="Admin key for --url [env FLIGHTLOG_ADMIN_KEY]")(func)
    return click.option("--url", default="", help="Manage keys through a running collector's admin API "
                        "instead of opening the store.")(func)


def _admin_call(url: str, admin_key: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    if not admin_key:
        raise click.ClickException("--url needs --admin-key (or FLIGHTLOG_ADMIN_KEY)")
    req = urllib.request.Request(
        url.rstrip("/") + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"HTTP {exc.code}: {json.load(exc).get('error', '')}") from exc
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc.reason}") from exc


@keys.command("create")
@click.option("--project", required=True, help="Project the key belongs to (created if new).")
@click.option("--role", required=True, type=click.Choice(["ingest", "engineer", "auditor", "admin"]),
              help="What the key may do.")
@click.option("--name", default="", help="Who the key is (decisions are recorded under it).")
@click.option("--permission", "permissions", multiple=True, type=click.Choice(["alerts", "approve"]),
              help="Beyond the role: approve (may decide approvals; needs --name). Repeatable.")
@_remote_options
@_store_options
def keys_create(project: str, role: str, name: str, permissions: tuple[str, ...], url: str, admin_key: str,
                **overrides: Any) -> None:
    """Create a key and print its secret once."""
    if url:
        created = _admin_call(url, admin_key, "POST", "/api/admin/keys",
                              {"project": project, "role": role, "name": name, "permissions": list(permissions)})
        click.echo(json.dumps({k: created[k] for k in ("key_id", "project", "role", "permissions", "key")}))
        return
    from flightlog.storage import InvalidQuery
    from flightlog.storage.keys import create_key

    store = _open(overrides)
    try:
        record, secret = create_key(store, project, role, name, permissions)
    except InvalidQuery as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(json.dumps({"key_id": record.key_id, "project": project, "role": role,
                           "permissions": list(record.permissions), "key": secret}))


def _echo_key(r: dict[str, Any]) -> None:
    state = "revoked" if r["revoked"] else "active"
    click.echo(f"{r['key_id']}  {r['project']:20} {r['role']:9} {state:8} {r['name']}")


@keys.command("list")
@click.option("--project", default=None, help="Only this project's keys.")
@_remote_options
@_store_options
def keys_list(project: str | None, url: str, admin_key: str, **overrides: Any) -> None:
    """List keys (ids, projects, roles; never secrets)."""
    if url:
        for r in _admin_call(url, admin_key, "GET", "/api/admin/keys" + (f"?project={project}" if project else ""))["keys"]:
            _echo_key(r)
        return
    from flightlog.storage.keys import list_keys

    store = _open(overrides)
    try:
        for r in list_keys(store, project):
            _echo_key({"key_id": r.key_id, "project": r.project, "role": r.role, "revoked": r.revoked, "name": r.name})
    finally:
        store.close()


@keys.command("revoke")
@click.argument("key_id")
@_remote_options
@_store_options
def keys_revoke(key_id: str, url: str, admin_key: str, **overrides: Any) -> None:
    """Revoke a key by id."""
    if url:
        _admin_call(url, admin_key, "DELETE", f"/api/admin/keys/{key_id}")
        click.echo(f"revoked {key_id}")
        return
    from flightlog.storage import InvalidQuery
    from flightlog.storage.keys import revoke_key

    store = _open(overrides)
    try:
        revoke_key(store, key_id)
    except InvalidQuery as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"revoked {key_id}")


def _register_extra_commands() -> None:
    """Commands that live in their own modules: storage (prices, bench), audit, control, alerts and evaluation."""
    from flightlog.collector.cli import alerts as cli_alerts
    from flightlog.collector.cli import audit as cli_audit
    from flightlog.collector.cli import control as cli_control
    from flightlog.collector.cli import datasets as cli_datasets
    from flightlog.collector.cli import evaluation as cli_evaluation
    from flightlog.collector.cli import storage as cli_storage

    main.add_command(cli_storage.prices)
    main.add_command(cli_storage.store)
    if hasattr(cli_storage, "bench"):
        main.add_command(cli_storage.bench)
    cli_audit.register(main)
    cli_control.register(main)
    cli_alerts.register(main)
    cli_datasets.register(main)
    cli_evaluation.register(main)


_register_extra_commands()

if __name__ == "__main__":
    main()
