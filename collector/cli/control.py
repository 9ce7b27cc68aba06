"""Control commands of the ``flightlog`` CLI (docs/control.md): ``approvals``, ``control`` and
``policy``. Each talks to a running collector's API with ``--url URL --key KEY``; the key's name is
who acts (deciding needs an admin key or a key with the ``approve`` permission; pausing and
setting policies an admin key).

Registered by :mod:`.main` (``register(main)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:4318"


def _options(func: Any) -> Any:
    func = click.option("--key", envvar="FLIGHTLOG_API_KEY", required=True,
                        help="Your API key (its name is recorded as who acted) [env FLIGHTLOG_API_KEY]")(func)
    return click.option("--url", default=DEFAULT_URL, show_default=True, help="The collector's base URL.")(func)


def _call(url: str, key: str, method: str, path: str, *, body: Any = None, params: Any = None) -> Any:
    import httpx

    try:
        resp = httpx.request(method, url.rstrip("/") + path, json=body, params=params, timeout=60,
                             headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from exc
    if resp.status_code >= 400:
        try:
            message = resp.json().get("error", resp.text)
        except ValueError:
            message = resp.text
        raise click.ClickException(f"HTTP {resp.status_code}: {message}")
    return resp.json()


def _row(a: dict[str, Any]) -> str:
    when = a.get("expires_at") if a["status"] == "pending" else a.get("decided_at")
    who = f" by {a['approver']}" if a.get("approver") else ""
    return (f"{a['id']}  {a['status']:8} {a['agent']} {a['agent_version']}".rstrip()
            + f"  {a['action']}  {json.dumps(a['arguments'])}  ({when}{who})")


@click.group("approvals")
def approvals() -> None:
    """The approval inbox: list pending actions, approve or reject them as yourself."""


@approvals.command("list")
@click.option("--status", default="", type=click.Choice(["", "pending", "approved", "rejected", "expired", "notified"]),
              help="Only approvals in this state.")
@click.option("--agent", default="", help="Only this agent's approvals.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500), help="At most this many.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of approvals (id, status, action, agent, arguments, trace_id, …).")
@_options
def list_(status: str, agent: str, limit: int, as_json: bool, url: str, key: str) -> None:
    """Approvals, pending first (soonest to expire first)."""
    page = _call(url, key, "GET", "/api/approvals", params={"status": status, "agent": agent, "limit": limit})
    if as_json:
        click.echo(json.dumps(page["items"], indent=2))
        return
    for item in page["items"]:
        click.echo(_row(item))
    click.echo(f"{page['total']} approvals", err=True)


@approvals.command("show")
@click.argument("approval_id")
@_options
def show(approval_id: str, url: str, key: str) -> None:
    """One approval, as JSON."""
    click.echo(json.dumps(_call(url, key, "GET", f"/api/approvals/{approval_id}"), indent=2))


def _decide(decision: str, approval_id: str, reason: str, arguments: str | None, url: str, key: str) -> None:
    body: dict[str, Any] = {"decision": decision, "reason": reason}
    if arguments is not None:
        try:
            body["arguments"] = json.loads(arguments)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--arguments") from exc
    approval = _call(url, key, "POST", f"/api/approvals/{approval_id}/decide", body=body)
    click.echo(_row(approval))


@approvals.command("approve")
@click.argument("approval_id")
@click.option("--reason", required=True, help="Why (kept with the decision in the audit record).")
@click.option("--arguments", default=None, help="Approve with these arguments instead (JSON): the agent uses them.")
@_options
def approve(approval_id: str, reason: str, arguments: str | None, url: str, key: str) -> None:
    """Approve a pending action (optionally with edited arguments)."""
    _decide("approve", approval_id, reason, arguments, url, key)


@approvals.command("reject")
@click.argument("approval_id")
@click.option("--reason", required=True, help="Why (kept with the decision in the audit record).")
@_options
def reject(approval_id: str, reason: str, url: str, key: str) -> None:
    """Reject a pending action."""
    _decide("reject", approval_id, reason, None, url, key)


@click.group("control")
def control() -> None:
    """The kill switch: pause and resume a project, an agent, an agent version or one tool."""


def _scope_options(func: Any) -> Any:
    func = click.option("--reason", required=True, help="Why (recorded, and sent to the webhooks).")(func)
    func = click.option("--tool", default="", help="Only this tool of the agent.")(func)
    func = click.option("--version", "agent_version", default="", help="Only this version of the agent.")(func)
    return click.option("--agent", default="", help="The agent (empty: the whole project).")(func)


def _pause(path: str, agent: str, agent_version: str, tool: str, reason: str, url: str, key: str) -> None:
    change = _call(url, key, "POST", path,
                   body={"agent": agent, "agent_version": agent_version, "tool": tool, "reason": reason})
    click.echo(f"{'paused' if change['paused'] else 'resumed'} {change['scope']} ({change['reason']})")


@control.command("pause")
@_scope_options
@_options
def pause(agent: str, agent_version: str, tool: str, reason: str, url: str, key: str) -> None:
    """Stop new runs, LLM calls and tool calls of the scope within seconds (admin key)."""
    _pause("/api/control/pause", agent, agent_version, tool, reason, url, key)


@control.command("resume")
@_scope_options
@_options
def resume(agent: str, agent_version: str, tool: str, reason: str, url: str, key: str) -> None:
    """Let the scope run again (admin key)."""
    _pause("/api/control/resume", agent, agent_version, tool, reason, url, key)


@control.command("status")
@_options
def status(url: str, key: str) -> None:
    """Active pauses and the policies in force."""
    click.echo(json.dumps(_call(url, key, "GET", "/api/control/state"), indent=2))


@click.group("policy")
def policy() -> None:
    """Central agent policies: what an agent may do, tiers, escalations, limits."""


@policy.command("set")
@click.option("--agent", required=True, help="The agent the policy is for.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_options
def set_(agent: str, file: Path, url: str, key: str) -> None:
    """Store FILE (YAML or JSON) as the agent's next policy version (admin key)."""
    text = file.read_text(encoding="utf-8")
    try:
        import yaml

        document = yaml.safe_load(text)
    except Exception as exc:  # a YAML error of any kind is the user's file: say so, not a traceback
        raise click.ClickException(f"{file}: not YAML or JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise click.ClickException(f"{file}: a policy is a mapping (agent, tools, escalations, limits, …)")
    if document.setdefault("agent", agent) != agent:
        raise click.ClickException(f"{file} is a policy for agent {document['agent']!r}, not {agent!r}")
    stored = _call(url, key, "PUT", "/api/policies", body=document)
    click.echo(f"policy {stored['id']} version {stored['version']} stored (sha256 {stored['sha256'][:12]}…)")


@policy.command("show")
@click.option("--agent", required=True, help="The agent whose policy to show.")
@click.option("--version", "agent_version", default="", help="The agent version's own policy, if it has one.")
@_options
def show_policy(agent: str, agent_version: str, url: str, key: str) -> None:
    """The policy in force, as JSON."""
    click.echo(json.dumps(_call(url, key, "GET", f"/api/policies/{agent}", params={"agent_version": agent_version}),
                          indent=2))


def register(main: click.Group) -> None:
    for group in (approvals, control, policy):
        main.add_command(group)
