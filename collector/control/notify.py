"""Webhook notifications of control events and alerts (docs/control.md, "Notifications";
docs/alerts.md).

A project's settings (``PUT /api/admin/notifications``) list targets — a URL, a format (``json``
or ``slack``: a message with a link to the approval in the UI) and the events it wants — and an
escalation: targets told when a tier-3 approval is still undecided after ``after_min`` minutes.
Each event is written to the ``notifications`` outbox once per target; a delivery thread posts
due rows, retries failures with exponential backoff (up to :data:`MAX_ATTEMPTS`) and records
the outcome, so every event is delivered once per target, and a restart resumes the outbox.
With several collectors on one store, a row is delivered by the collector that queued it, or
by any once it has been due for :data:`TAKEOVER_S` (its owner stopped).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

import httpx

from flightlog.storage import StorageError, Store
from flightlog.storage import control as db
from flightlog.storage.leases import Lease

log = logging.getLogger(__name__)

EVENTS = ("approval.requested", "checkpoint.notified", "approval.decided", "approval.expired", "approval.escalated",
          "approval.consumed", "agent.paused", "agent.resumed", "alert.firing", "alert.resolved")
DEFAULT_EVENTS = tuple(e for e in EVENTS if e != "approval.consumed")
FORMATS = ("json", "slack")
MAX_ATTEMPTS = 10
MAX_BACKOFF_S = 300.0
TIMEOUT_S = 10.0
TAKEOVER_S = 120.0


def validate_settings(body: dict[str, Any]) -> dict[str, Any]:
    """Settings with defaults filled and target ids assigned; ValueError says what is wrong."""
    if not isinstance(body, dict) or set(body) - {"targets", "escalation", "ui_url"}:
        raise ValueError("settings hold 'targets', 'escalation' and 'ui_url'")

    def targets(items: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            raise ValueError(f"{where} must be a list")
        out = []
        for i, t in enumerate(items):
            if not isinstance(t, dict) or not isinstance(t.get("url"), str) or not t["url"].startswith(("http://", "https://")):
                raise ValueError(f"{where}[{i}] needs an http(s) 'url'")
            fmt = t.get("format", "json")
            if fmt not in FORMATS:
                raise ValueError(f"{where}[{i}].format must be one of {FORMATS}")
            events = t.get("events") or list(DEFAULT_EVENTS)
            unknown = sorted(set(events) - set(EVENTS))
            if unknown:
                raise ValueError(f"{where}[{i}].events: unknown {unknown}; known: {list(EVENTS)}")
            target_id = hashlib.sha256(f"{t['url']}|{fmt}".encode()).hexdigest()[:12]
            out.append({"id": target_id, "url": t["url"], "format": fmt, "events": list(events)})
        return out

    escalation = body.get("escalation") or {}
    if not isinstance(escalation, dict):
        raise ValueError("'escalation' must be an object with 'after_min' and 'targets'")
    after = escalation.get("after_min", 0)
    if isinstance(after, bool) or not isinstance(after, (int, float)) or after < 0:
        raise ValueError("escalation.after_min must be a number of minutes >= 0")
    ui_url = body.get("ui_url") or ""
    if ui_url and not str(ui_url).startswith(("http://", "https://")):
        raise ValueError("ui_url must be an http(s) URL")
    return {"targets": targets(body.get("targets") or [], "targets"),
            "escalation": {"after_min": after, "targets": targets(escalation.get("targets") or [], "escalation.targets")},
            "ui_url": str(ui_url).rstrip("/")}


def slack_text(event: str, payload: dict[str, Any], link: str) -> str:
    """The one-line message of the Slack-compatible form."""
    if "alert" in payload:
        a = payload["alert"]
        value = "no value" if a.get("value") is None else f"{a['value']:.4g}"
        against = "" if a.get("reference") is None else f" (against {a['reference']:.4g}, {a['compare']})"
        scope = ", ".join(f"{k} {v}" for k, v in sorted((a.get("scope") or {}).items())) or "the whole project"
        head = "FIRING" if event == "alert.firing" else "RESOLVED"
        text = (f"[{head}] {a['name']}: {a['metric']} {value}{against}, {a['op']} {a['threshold']:.4g} over "
                f"{a['window']} for {scope} ({a['samples']} samples)")
    elif "approval" in payload:
        a = payload["approval"]
        who = f"{a['agent']} {a['agent_version']}".strip() or "an agent"
        verbs = {"approval.requested": "asks for approval", "checkpoint.notified": "notifies (tier 2)",
                 "approval.decided": f"was {a['status']} by {a.get('approver') or '?'}",
                 "approval.expired": "expired without a decision",
                 "approval.escalated": "is still waiting for a decision",
                 "approval.consumed": "was used"}
        text = f"{who} {verbs.get(event, event)}: {a['action']}"
        if a.get("reason") and event in ("approval.decided", "approval.expired"):
            text += f" — {a['reason']}"
    else:
        p = payload.get("pause") or {}
        text = f"{p.get('scope', 'an agent')} was {'paused' if event == 'agent.paused' else 'resumed'} by " \
               f"{p.get('by', '?')}: {p.get('reason', '')}"
    return f"{text} <{link}|open in Flightlog>" if link else text


class Notifier:
    """Queues events per target and delivers the outbox on its own thread."""

    def __init__(self, store: Store, *, lease: Lease | None = None, instance: str = "") -> None:
        self.store = store
        # Collectors sharing a server deliver the outbox one at a time: each row is posted once.
        self._lease = lease
        self.instance = instance or f"collector-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flightlog-notify", daemon=True)
        self._wake = threading.Event()

    def settings(self, project: str) -> dict[str, Any]:
        body = db.notification_settings(self.store, project)
        return json.loads(body) if body else {"targets": [], "escalation": {"after_min": 0, "targets": []},
                                              "ui_url": ""}

    def escalate_after(self, project: str) -> timedelta | None:
        minutes = self.settings(project)["escalation"]["after_min"]
        return timedelta(minutes=minutes) if minutes else None

    def queue(self, project: str, event: str, payload: dict[str, Any], *, event_id: str = "") -> str:
        """Put ``event`` in the outbox once for every target that wants it; returns the event id
        (``event_id``, or a new one)."""
        settings = self.settings(project)
        targets = settings["escalation"]["targets"] if event == "approval.escalated" else settings["targets"]
        event_id = event_id or uuid.uuid4().hex
        link = ""
        if settings.get("ui_url") and "approval" in payload:
            link = f"{settings['ui_url']}/approvals?id={payload['approval']['id']}"
        elif settings.get("ui_url") and "alert" in payload:
            link = f"{settings['ui_url']}{payload['alert']['link']}"
        document = {"event": event, "event_id": event_id, "project": project, "at": db.utc_now().isoformat(),
                    "link": link or None, **payload}
        rows = []
        for target in targets:
            if event not in target["events"] and event != "approval.escalated":
                continue
            body = {"text": slack_text(event, payload, link), "flightlog": document} if target["format"] == "slack" \
                else document
            rows.append({"Project": project, "EventId": event_id, "TargetId": target["id"], "Event": event,
                         "Url": target["url"], "Format": target["format"], "Payload": json.dumps(body, default=str)})
        if rows:
            db.enqueue_notifications(self.store, rows, owner=self.instance)
            self._wake.set()
        return event_id

    def deliver_due(self) -> int:
        """Post every due outbox row once; returns how many were delivered (0 while another
        collector delivers)."""
        if self._lease is None:
            return self._deliver()
        with self._lease.try_hold() as held:
            return self._deliver() if held is not None else 0

    def _deliver(self) -> int:
        delivered = 0
        # Sharing a store, the notify lease already makes this collector the only deliverer: every
        # due row is its to send. Alone, rows are its own (or an earlier instance's, taken over).
        takeover = 0.0 if self._lease is not None else TAKEOVER_S
        for row in db.due_notifications(self.store, owner=self.instance, takeover_s=takeover):
            if self._lease is not None and not self._lease.usable():
                break  # the turn is nearly over: the rest waits for the next one
            attempts = int(row["Attempts"]) + 1
            try:
                resp = httpx.post(row["Url"], content=row["Payload"].encode(), timeout=TIMEOUT_S,
                                  headers={"Content-Type": "application/json", "X-Flightlog-Event": row["Event"],
                                           "X-Flightlog-Event-Id": row["EventId"]})
                status, error = resp.status_code, "" if resp.status_code < 300 else resp.text[:300]
            except httpx.HTTPError as exc:
                status, error = 0, str(exc)[:300]
            if 200 <= status < 300:
                db.update_notification(self.store, {**row, "Owner": self.instance, "Status": "delivered",
                                                    "Attempts": attempts, "LastStatus": status, "LastError": "",
                                                    "DeliveredAt": db.utc_now()})
                delivered += 1
                continue
            give_up = attempts >= MAX_ATTEMPTS
            backoff = min(2.0 ** attempts, MAX_BACKOFF_S)
            db.update_notification(self.store, {**row, "Owner": self.instance,
                                                "Status": "failed" if give_up else "pending",
                                                "Attempts": attempts, "LastStatus": status, "LastError": error,
                                                "NextAt": db.utc_now() + timedelta(seconds=backoff)})
            log.warning("notification %s of %s to %s failed (attempt %d%s): %s", row["EventId"], row["Event"],
                        row["Url"], attempts, ", giving up" if give_up else "", error or status)
        return delivered

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self.deliver_due()
            except StorageError:
                log.exception("notification delivery paused: the store is unavailable")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(15)
