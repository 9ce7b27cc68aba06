"""Signed chain heads kept outside the store: what makes a rewrite of the chain tables visible.

The hash chain (:mod:`.chain`) shows any edit of a stored span, but someone who can write to
the store could rewrite the chain tables too, consistently. So the collector periodically
signs the head (seq and hash) of each stream of each project's chain with an Ed25519 key and appends the signed
record to a sink outside the store: a JSONL file (fsynced) or a webhook. ``flightlog verify
--anchors FILE`` checks every record's signature and that the store's chain still has the
anchored hash at each anchored seq, and reports the first divergence.

The key lives in ``<data dir>/anchor-key.pem`` (created on first start, mode 0600) unless
``--anchor-key`` names one; its public half is in every record, and ``--anchor-public-key``
pins the key a verifier accepts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from flightlog.storage import Store
from flightlog.storage import audit as db

log = logging.getLogger(__name__)

ANCHOR_VERSION = 1
KEY_FILE = "anchor-key.pem"
SINK_FILE = "anchors.jsonl"
WEBHOOK_TIMEOUT_S = 10.0


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key at ``path`` (PEM, PKCS#8), created there (mode 0600) if absent."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    log.info("created the chain-anchor signing key %s", path)
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(public_key: str) -> str:
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def _signed_bytes(record: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(key: Ed25519PrivateKey, project: str, seq: int, head_hash: str, *, at: datetime | None = None,
         stream: str = "") -> dict[str, Any]:
    """A signed anchor record for the head of one stream of a project's chain (records of the
    stream '', the links written before streams, carry no ``stream`` field)."""
    public = public_key_text(key.public_key())
    record: dict[str, Any] = {
        "v": ANCHOR_VERSION, "at": (at or datetime.now(timezone.utc)).isoformat(), "project": project,
        "seq": int(seq), "hash": head_hash, "key_id": key_id(public), "public_key": public,
    }
    if stream:
        record["stream"] = stream
    record["signature"] = base64.b64encode(key.sign(_signed_bytes(record))).decode("ascii")
    return record


def signature_ok(record: Mapping[str, Any], pinned_public_key: str | None = None) -> bool:
    """True if ``record`` is signed by the key it names (and that key is the pinned one, if given)."""
    try:
        public = str(record["public_key"])
        if pinned_public_key is not None and public != pinned_public_key:
            return False
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public))
        key.verify(base64.b64decode(str(record["signature"])), _signed_bytes(record))
        return True
    except (KeyError, ValueError, TypeError, InvalidSignature):
        return False


class Anchorer:
    """Signs changed chain heads and appends them to the sink (a file path or an http(s) URL)."""

    def __init__(self, store: Store, key: Ed25519PrivateKey, sink: str) -> None:
        self.store = store
        self.key = key
        self.sink = sink
        self._last: dict[tuple[str, str], tuple[int, str]] = {}
        self._lock = threading.Lock()

    def anchor(self) -> list[dict[str, Any]]:
        """Anchor every project whose head moved since the last anchor; returns the records written."""
        written = []
        with self._lock:
            for project in db.chained_projects(self.store):
                for stream, seq, head_hash in db.chain_heads(self.store, project):
                    head = (seq, head_hash)
                    if self._last.get((project, stream)) == head:
                        continue
                    record = sign(self.key, project, seq, head_hash, stream=stream)
                    self._append(record)
                    self._last[(project, stream)] = head
                    written.append(record)
        return written

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        if self.sink.startswith(("http://", "https://")):
            resp = httpx.post(self.sink, content=line.encode(), headers={"Content-Type": "application/json"},
                              timeout=WEBHOOK_TIMEOUT_S)
            resp.raise_for_status()
            return
        path = Path(self.sink)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


@dataclass
class AnchorReport:
    """What ``verify --anchors`` found."""

    project: str
    checked: int = 0
    bad_signatures: list[int] = field(default_factory=list)  # line numbers
    first_divergence: dict[str, Any] | None = None
    missing_after_head: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not (self.bad_signatures or self.first_divergence or self.missing_after_head)

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "ok": self.ok, "anchors_checked": self.checked,
                "bad_signatures": self.bad_signatures, "first_divergence": self.first_divergence,
                "missing_after_head": self.missing_after_head}

    def summary(self) -> str:
        if self.ok:
            return f"anchors OK: {self.checked} signed heads of project {self.project!r} match the chain"
        parts = []
        if self.bad_signatures:
            parts.append(f"{len(self.bad_signatures)} anchors with a bad signature (lines {self.bad_signatures[:10]})")
        if self.first_divergence:
            d = self.first_divergence
            at = f"stream {d['stream']} " if d.get("stream") else ""
            parts.append(f"the chain differs from the anchor of {d['at']} at {at}batch #{d['seq']}: the store has "
                         f"{d['store_hash'] or 'no such batch'}, the anchor {d['anchor_hash']} (rewritten at or before it)")
        if self.missing_after_head:
            d = self.missing_after_head
            at = f"stream {d['stream']} of " if d.get("stream") else ""
            parts.append(f"{at}the chain ends at batch #{d['store_head']}, but an anchor of {d['at']} saw #{d['seq']}")
        return "anchors FAILED: " + "; ".join(parts)


def read_anchors(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) of every JSON line of an anchor file."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except ValueError:
                out.append((n, {}))
    return out


def check_anchors(records: Iterable[tuple[int, Mapping[str, Any]]], project: str,
                  links: Mapping[int, str], head_seq: int, *, pinned_public_key: str | None = None,
                  stream: str = "", report: AnchorReport | None = None) -> AnchorReport:
    """Compare the anchors of one stream of a project's chain with it (``links``: seq → link
    hash as stored); unreadable records are counted in the stream '' only."""
    report = report or AnchorReport(project=project)
    for line, record in records:
        if record and (record.get("project") != project or str(record.get("stream") or "") != stream):
            continue
        if not record and stream:
            continue
        if not signature_ok(record, pinned_public_key):
            report.bad_signatures.append(line)
            continue
        report.checked += 1
        seq = int(record["seq"])
        if seq > head_seq:
            if report.missing_after_head is None:
                report.missing_after_head = {"seq": seq, "at": record["at"], "store_head": head_seq, "stream": stream}
            continue
        stored = links.get(seq)
        if stored != record["hash"] and (report.first_divergence is None or seq < report.first_divergence["seq"]):
            report.first_divergence = {"seq": seq, "at": record["at"], "anchor_hash": record["hash"],
                                       "store_hash": stored, "stream": stream}
    return report


def check_streams(records: Sequence[tuple[int, Mapping[str, Any]]], project: str,
                  chains: Mapping[str, Mapping[int, str]], *, heads: Mapping[str, int] | None = None,
                  pinned_public_key: str | None = None) -> AnchorReport:
    """:func:`check_anchors` for every stream of a project's chain (``chains``: stream → seq →
    link hash as stored; ``heads``: stream → head seq, by default the last of its links) and
    every stream an anchor names, in one report."""
    named = {str(r.get("stream") or "") for _, r in records if r and r.get("project") == project}
    report = AnchorReport(project=project)
    for stream in sorted(named | set(chains) | {""}):
        links = chains.get(stream, {})
        head = (heads or {}).get(stream, max(links, default=0))
        check_anchors(records, project, links, head, pinned_public_key=pinned_public_key,
                      stream=stream, report=report)
    return report


def verify_against_store(store: Store, project: str, path: Path, *,
                         pinned_public_key: str | None = None) -> AnchorReport:
    """:func:`check_streams` with the chain read from the store."""
    chains: dict[str, dict[int, str]] = {}
    for link in db.chain_batches(store, project):
        chains.setdefault(str(link["Stream"]), {})[int(link["Seq"])] = link["LinkHash"]
    return check_streams(read_anchors(path), project, chains, pinned_public_key=pinned_public_key)
