"""Pure helpers of the Trace page: a span's messages as a chat transcript, and tree collapsing.

Messages come from the span's raw attributes in the shapes the instrumentations send: the
GenAI ``gen_ai.input.messages`` / ``gen_ai.output.messages`` JSON (parts schema), or
OpenInference's flattened ``llm.input_messages.<n>.message.role/content``. Everything
returned is plain text; the page shows it with ``st.text`` inside ``st.chat_message``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from flightlog import semconv as sc

_OI = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(role|content)$")


def _part_text(part: Any) -> str:
    if not isinstance(part, Mapping):
        return str(part)
    kind = part.get("type")
    if kind == "text":
        return str(part.get("content", ""))
    if kind == "tool_call":
        args = part.get("arguments")
        args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        return f"→ tool call {part.get('name', '')}({args})"
    if kind == "tool_call_response":
        response = part.get("response")
        return f"← tool result: {response if isinstance(response, str) else json.dumps(response, ensure_ascii=False)}"
    return json.dumps(part, ensure_ascii=False)


def _genai(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    out = []
    for message in value if isinstance(value, list) else []:
        if not isinstance(message, Mapping):
            continue
        role = str(message.get("role") or "message")
        if "parts" in message:
            text = "\n".join(_part_text(p) for p in message.get("parts") or [])
        else:
            text = str(message.get("content") or "")
        out.append((role, text))
    return out


def chat_messages(span: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(role, text) pairs of the span's input then output messages; [] when it has none."""
    attrs = span.get("span_attributes") or {}
    messages = _genai(attrs.get(sc.INPUT_MESSAGES)) + _genai(attrs.get(sc.OUTPUT_MESSAGES))
    if messages:
        return messages
    flat: dict[tuple[int, int], dict[str, str]] = {}
    for key, value in attrs.items():
        match = _OI.match(key)
        if match:
            side = 0 if match.group(1) == "input" else 1
            flat.setdefault((side, int(match.group(2))), {})[match.group(3)] = str(value)
    return [(m.get("role", "message"), m.get("content", "")) for _, m in sorted(flat.items())]


def chat_role(role: str) -> str:
    """The avatar Streamlit's chat_message gets: user, assistant, or a neutral one."""
    return role if role in ("user", "assistant") else "ai" if role in ("tool", "system") else "user"


def visible_spans(spans: Sequence[Mapping[str, Any]], collapsed: set[str], max_depth: int | None) -> list[int]:
    """Indexes of the spans still shown when the subtrees under ``collapsed`` span ids are
    folded and nothing deeper than ``max_depth`` is shown (spans are in tree order with depth)."""
    shown, hide_below = [], None
    for i, span in enumerate(spans):
        depth = int(span.get("depth") or 0)
        if hide_below is not None and depth > hide_below:
            continue
        hide_below = None
        if max_depth is not None and depth > max_depth:
            continue
        shown.append(i)
        if span.get("span_id") in collapsed:
            hide_below = depth
    return shown
