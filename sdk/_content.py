"""Turning agent data into span attribute text: JSON, GenAI messages, redaction, truncation.

Pure functions over plain data (table-tested in tests/test_sdk_content.py). Nothing here raises
into agent code: an object that cannot be encoded becomes its ``repr``, and a failing
redaction hook replaces the value with ``[REDACTION FAILED]`` (fail closed).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._types import RedactHook, RedactInput

_logger = logging.getLogger("flightlog")

REDACTED = "[REDACTED]"
REDACTION_FAILED = "[REDACTION FAILED]"
_MAX_DEPTH = 32
_SCALARS = frozenset({str, int, float, bool, type(None)})

# One encoder for all content (what ``json.dumps(ensure_ascii=False, separators=(",", ":"))``
# builds on every call), and the C string encoder it uses, for the plain-text fast paths below.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_encode_str = json.encoder.encode_basestring
_TEXT_MESSAGE_KEYS = frozenset({"role", "content"})
_MAX_CACHED_TEMPLATE_CHARS = 65_536


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of ``value``: pydantic models, dataclasses and sets become plain data."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict and _depth <= _MAX_DEPTH:  # fast paths for the common plain-data case
        return {(k if type(k) is str else str(k)): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if kind is list and _depth <= _MAX_DEPTH:
        return [to_jsonable(v, _depth + 1) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if _depth > _MAX_DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, _depth + 1) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    dump = getattr(value, "model_dump", None)  # pydantic v2 models (OpenAI/Anthropic responses)
    if callable(dump):
        try:
            return to_jsonable(dump(), _depth + 1)
        except Exception:  # noqa: BLE001 - user object; fall back to repr below
            pass
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), _depth + 1)
    return repr(value)


def dumps(value: Any, *, ready: bool = False) -> str:
    """Compact JSON text of ``value`` (non-ASCII kept); never raises.

    ``ready=True`` skips the ``to_jsonable`` pass for data that already went through it.
    """
    try:
        return _ENCODER.encode(value if ready else to_jsonable(value))
    except (TypeError, ValueError):
        return json.dumps(repr(value), ensure_ascii=False)


def as_text(value: Any) -> str:
    """Strings as they are; anything else as JSON text."""
    return value if isinstance(value, str) else dumps(value)


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes of ``text``."""
    # surrogatepass: a lone surrogate in a message must not cost the span its end attributes
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_cached_sha256_hex = functools.lru_cache(maxsize=256)(sha256_hex)


def template_hash(template: str) -> str:
    """``sha256_hex(template)``, computed once per distinct template (bounded LRU cache).

    Prompt templates repeat across calls; message text mostly does not, so only templates are
    cached, and only up to 64k characters so the cache stays small.
    """
    if len(template) > _MAX_CACHED_TEMPLATE_CHARS:
        return sha256_hex(template)
    return _cached_sha256_hex(template)


# --- GenAI messages ------------------------------------------------------------------------

def _part(part: Any) -> dict[str, Any]:
    """One GenAI message part from a string, an OpenAI/Anthropic content block or a part."""
    if isinstance(part, str):
        return {"type": "text", "content": part}
    part = to_jsonable(part)
    if not isinstance(part, dict):
        return {"type": "text", "content": as_text(part)}
    kind = part.get("type")
    if kind == "text":
        text = part.get("content", part.get("text", ""))
        return {"type": "text", "content": text if isinstance(text, str) else as_text(text)}
    if kind in ("tool_use", "function_call"):  # Anthropic / Responses-API tool call blocks
        return {"type": "tool_call", "id": part.get("id"), "name": part.get("name"),
                "arguments": part.get("input", part.get("arguments"))}
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": part.get("tool_use_id"), "response": part.get("content")}
    if kind is None:
        return {"type": "text", "content": as_text(part)}
    return part


def _tool_call(call: Any) -> dict[str, Any]:
    """A GenAI tool_call part from an OpenAI chat ``tool_calls`` entry."""
    call = to_jsonable(call)
    if not isinstance(call, dict):
        return {"type": "tool_call", "arguments": call}
    function = call.get("function")
    fn: dict[str, Any] = function if isinstance(function, dict) else {}
    arguments = fn.get("arguments", call.get("arguments"))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass
    return {"type": "tool_call", "id": call.get("id"), "name": fn.get("name", call.get("name")),
            "arguments": arguments}


def to_message(message: Any, *, default_role: str) -> dict[str, Any]:
    """One GenAI message (``{"role", "parts"}``) from a string, a ``{"role","content"}`` dict
    (OpenAI/Anthropic shape) or a message already in the parts schema."""
    if isinstance(message, str):
        return {"role": default_role, "parts": [{"type": "text", "content": message}]}
    if type(message) is dict and type(message.get("content")) is str and message.keys() <= _TEXT_MESSAGE_KEYS:
        role = message.get("role")
        if role is None or type(role) is str:  # plain text: same result as below, without the copies
            return {"role": role or default_role, "parts": [{"type": "text", "content": message["content"]}]}
    message = to_jsonable(message)
    if not isinstance(message, dict):
        return {"role": default_role, "parts": [{"type": "text", "content": as_text(message)}]}
    role = message.get("role") or default_role
    if isinstance(message.get("parts"), list):
        out = dict(message)
        out["role"] = role
        out["parts"] = [_part(p) for p in message["parts"]]
        return out
    content = message.get("content")
    parts: list[dict[str, Any]] = []
    if role == "tool" and "tool_call_id" in message:
        parts.append({"type": "tool_call_response", "id": message["tool_call_id"], "response": content})
    elif isinstance(content, list):
        parts.extend(_part(p) for p in content)
    elif content is not None:
        parts.append(_part(content))
    for call in message.get("tool_calls") or ():
        parts.append(_tool_call(call))
    out = {"role": role, "parts": parts}
    if "name" in message:
        out["name"] = message["name"]
    if "finish_reason" in message:
        out["finish_reason"] = message["finish_reason"]
    return out


def to_messages(messages: Any, *, default_role: str) -> list[dict[str, Any]]:
    """A list of GenAI messages from a string, one message or a sequence of messages."""
    if messages is None:
        return []
    if isinstance(messages, (str, Mapping)) or not isinstance(messages, Iterable):
        messages = [messages]
    return [to_message(m, default_role=default_role) for m in messages]


def text_messages_json(messages: Any, *, default_role: str) -> str | None:
    """``dumps(to_messages(messages, default_role=...))`` for plain text, without building the parts.

    Handles a string, a ``{"role", "content": str}`` dict, or a list/tuple of those (the usual
    chat input); returns None for anything else (and for an empty list), so the caller falls
    back to ``to_messages``. The text is identical to the general path's.
    """
    kind = type(messages)
    if kind is str or kind is dict:
        messages = (messages,)
    elif (kind is not list and kind is not tuple) or not messages:
        return None
    pieces = []
    role: Any
    content: Any
    for message in messages:
        if type(message) is str:
            role, content = default_role, message
        elif type(message) is dict and message.keys() <= _TEXT_MESSAGE_KEYS:
            role, content = message.get("role"), message.get("content")
            if type(content) is not str:
                return None
            if role is None or role == "":
                role = default_role
            elif type(role) is not str:
                return None
        else:
            return None
        pieces.append('{"role":%s,"parts":[{"type":"text","content":%s}]}' % (_encode_str(role),
                                                                               _encode_str(content)))
    return "[" + ",".join(pieces) + "]"


def text_output_json(text: str, *, finish_reason: str | None) -> str:
    """``dumps(to_output_messages(text, finish_reason=...))`` for a plain-text reply."""
    return '[{"role":"assistant","parts":[{"type":"text","content":%s}],"finish_reason":%s}]' % (
        _encode_str(text), _encode_str(finish_reason or "stop"))


def to_output_messages(output: Any, *, finish_reason: str | None) -> list[dict[str, Any]]:
    """GenAI output messages (role ``assistant`` by default), each with a ``finish_reason``.

    A message without its own finish reason gets ``finish_reason`` or, failing that, ``"stop"``.
    """
    messages = to_messages(output, default_role="assistant")
    for message in messages:
        message.setdefault("finish_reason", finish_reason or "stop")
    return messages


# --- Redaction and truncation ---------------------------------------------------------------

def compile_redactor(redact: RedactInput) -> RedactHook | None:
    """One ``str -> str`` function from a callable, or from regexes whose matches become
    ``[REDACTED]``. Raises ``ValueError`` for anything else (or an invalid regex)."""
    if redact is None:
        return None
    if callable(redact):
        return redact
    if isinstance(redact, (str, re.Pattern)):
        redact = [redact]
    try:
        patterns = [p if isinstance(p, re.Pattern) else re.compile(p) for p in redact]
    except (TypeError, re.error) as exc:
        raise ValueError(f"redact= must be a callable or regexes: {exc}") from exc
    if not all(isinstance(p.pattern, str) for p in patterns):
        raise ValueError("redact= regexes must be str patterns")

    def _regex_redactor(text: str) -> str:
        for pattern in patterns:
            text = pattern.sub(REDACTED, text)
        return text

    return _regex_redactor


def redact_strings(value: Any, hook: RedactHook | None) -> tuple[Any, bool]:
    """``value`` with ``hook`` applied to every string inside it, and whether anything changed."""
    if hook is None:
        return value, False
    changed = False

    def walk(v: Any) -> Any:
        nonlocal changed
        if isinstance(v, str):
            try:
                new = hook(v)
                if not isinstance(new, str):
                    new = str(new)
            except Exception:  # noqa: BLE001 - user hook; fail closed, never raise into the agent
                _logger.exception("flightlog: redaction hook failed; value replaced")
                new = REDACTION_FAILED
            if new != v:
                changed = True
            return new
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return walk(value), changed


def truncate(text: str, max_length: int | None) -> str:
    """``text`` cut to ``max_length`` characters plus the marker ``…[truncated N chars]``."""
    if not max_length or len(text) <= max_length:
        return text
    return f"{text[:max_length]}…[truncated {len(text) - max_length} chars]"


def format_content(value: Any, *, redact: RedactHook | None, max_length: int | None,
                   as_json: bool = False, ready: bool = False) -> tuple[str, bool]:
    """Attribute text for a content value: redacted leaf by leaf, encoded, then truncated.

    Strings stay plain text unless ``as_json``; other values are JSON. Returns the text and
    whether redaction changed anything. ``ready=True`` skips the ``to_jsonable`` pass for data
    that already went through it (e.g. ``to_messages`` output).
    """
    if redact is None and type(value) is str and not as_json:  # the common case: nothing to do
        return truncate(value, max_length), False
    data = value if ready or (isinstance(value, str) and not as_json) else to_jsonable(value)
    data, changed = redact_strings(data, redact)
    text = data if isinstance(data, str) and not as_json else dumps(data, ready=True)
    return truncate(text, max_length), changed


def identity_callable_name(fn: Callable[..., Any]) -> str:
    """A readable name for a user callable (used as the default approver name)."""
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
