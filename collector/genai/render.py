"""Rendering of LLM message content into searchable text (private helpers of mapping.py).

Every convention stores prompts and completions differently: OTel GenAI as a JSON list of
messages with typed `parts`, older GenAI as events or flattened `gen_ai.prompt.<n>.*` keys,
OpenInference as flattened `llm.input_messages.<n>.message.*` keys, OpenAI-shaped request
bodies inside `input.value`. This module turns all of them into one plain form, one line per
part: `role: text`, with tool calls as `tool_call name(arguments)`. Pure functions only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from operator import methodcaller
from typing import Any

from flightlog import semconv as sc

# Event names of the GenAI conventions that carry one message each (older semconv, as span
# events or as log records); the role is implied by the name.
_MESSAGE_EVENT_ROLES = sc.EVENT_MESSAGE_ROLES
_CHOICE_EVENT = sc.EVENT_CHOICE
_MAX_KEY_DEPTH = 32  # flattened keys deeper than this are kept raw but not rendered
_DETAILS_EVENT = sc.EVENT_INFERENCE_DETAILS


def stringify(value: Any) -> str:
    """Map-column form of an attribute value: strings as they are, anything else as JSON."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:  # the JSON of the scalars, without the encoder's set-up
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def to_int(value: Any) -> int | None:
    """An integer from an int, float or numeric string; None for anything else (and bools)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    number = to_float(value)
    return int(number) if number is not None else None


def to_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; None for anything else (and bools)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_json(value: Any) -> Any:
    """Decode a JSON string; values that are not strings (already decoded) pass through.

    A string that is not JSON is returned unchanged, so callers can treat it as text.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or text[0] not in "[{\"":
        return value
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return value


def unflatten(attrs: Mapping[str, Any], prefix: str) -> list[Any]:
    """Rebuild the list flattened into `<prefix>.<n>.<path>` keys (OpenInference, OpenLLMetry).

    `llm.input_messages.0.message.role = "user"` becomes `[{"message": {"role": "user"}}]`;
    nested indexes (`tool_calls.0.…`) become nested lists. Gaps in the numbering are dropped.
    """
    root: dict[str, Any] = {}
    start = prefix + "."
    # The keys under the prefix, found at C speed (this runs several times per span, over every
    # attribute, and most spans have none of them).
    for key in list(filter(methodcaller("startswith", start), attrs)):
        value = attrs[key]
        parts = key[len(start):].split(".")
        if not parts[0].isdigit() or len(parts) > _MAX_KEY_DEPTH:
            continue
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # a leaf and a subtree under one name: keep the leaf
                break
            node = child
        else:
            node.setdefault(parts[-1], value)
    listed = _lists_from_digit_keys(root)
    return listed if isinstance(listed, list) else []


def _lists_from_digit_keys(node: Any) -> Any:
    """Turn dicts whose keys are all digits into lists ordered by index."""
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_from_digit_keys(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def render_messages(value: Any, *, default_role: str = "") -> str:
    """Text of a message list: GenAI `parts` messages, OpenAI chat messages, or one message.

    Accepts a JSON string or decoded data. A bare string is returned as it is.
    """
    data = parse_json(value)
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return ""
    lines: list[str] = []
    for message in data:
        if isinstance(message, dict):
            lines.extend(_message_lines(message, default_role=default_role))
        elif isinstance(message, str) and message:
            lines.append(message)
    return "\n".join(lines)


def render_system_instructions(value: Any) -> str:
    """Text of `gen_ai.system_instructions` (a list of parts, or a string)."""
    data = parse_json(value)
    if isinstance(data, str):
        return f"system: {data}" if data else ""
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return ""
    return "\n".join(f"system: {text}" for text in map(_part_text, data) if text)


def render_openinference_messages(attrs: Mapping[str, Any], prefix: str) -> str:
    """Text of OpenInference's flattened `llm.input_messages` / `llm.output_messages`."""
    messages = []
    for item in unflatten(attrs, prefix):
        message = item.get("message") if isinstance(item, dict) else None
        if not isinstance(message, dict):
            continue
        contents = [
            entry.get("message_content") for entry in _as_list(message.get("contents"))
            if isinstance(entry, dict)
        ]
        tool_calls = [
            entry.get("tool_call") for entry in _as_list(message.get("tool_calls"))
            if isinstance(entry, dict)
        ]
        messages.append({
            "role": message.get("role", ""),
            "content": message.get("content") or [c for c in contents if c],
            "tool_calls": [call for call in tool_calls if call],
        })
    return render_messages(messages)


def render_flattened_messages(attrs: Mapping[str, Any], prefix: str, *, default_role: str = "") -> str:
    """Text of flattened `gen_ai.prompt.<n>.*` / `gen_ai.completion.<n>.*` (OpenLLMetry, LiteLLM;
    a completion without a role is the assistant's, e.g. LiteLLM's ``function_call`` only)."""
    return render_messages([m for m in unflatten(attrs, prefix) if isinstance(m, dict)], default_role=default_role)


def render_documents(value: Any) -> str:
    """Text of retrieved documents: a list of strings or of `{content|text|page_content}`."""
    data = parse_json(value)
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return ""
    texts = []
    for document in data:
        if isinstance(document, dict):
            document = document.get("document", document)
        if isinstance(document, dict):
            text = _first_present(document, ("content", "text", "page_content"))
            texts.append(stringify(text) if text is not None else "")
        elif document is not None:
            texts.append(stringify(document))
    return "\n".join(text for text in texts if text)


def render_json_value(value: Any, *, side: str) -> str:
    """Readable text of an opaque `input.value` / `output.value` style payload.

    A list of chat messages, OpenAI request bodies (`{"messages": …}`) and responses
    (`{"choices": …}`) are rendered as messages, `{"input": "…"}` as its text; anything else
    is kept as the original string.
    """
    data = parse_json(value)
    rendered = ""
    if isinstance(data, list) and data and all(
            isinstance(item, dict) and "role" in item for item in data):
        rendered = render_messages(data)
    elif isinstance(data, dict):
        if side == "input" and isinstance(data.get("messages"), list):
            rendered = render_messages(data["messages"])
        elif side == "input" and isinstance(data.get("input"), str):
            rendered = data["input"]
        elif side == "output" and isinstance(data.get("choices"), list):
            rendered = _render_choices([c for c in data["choices"] if isinstance(c, dict)])
        elif "role" in data and ("content" in data or "tool_calls" in data):  # one message (Langfuse)
            rendered = render_messages(data, default_role="assistant" if side == "output" else "")
        elif data and set(data) <= {"args", "kwargs"}:  # a decorated function's call (OpenLLMetry, Langfuse)
            args = [a for a in (data.get("args") or []) if a not in (None, "")] if isinstance(
                data.get("args"), list) else []
            kwargs = data.get("kwargs") if isinstance(data.get("kwargs"), dict) else {}
            rendered = "\n".join([stringify(a) for a in args] + ([stringify(kwargs)] if kwargs else []))
    return rendered or (value if isinstance(value, str) else stringify(value))


def span_texts(attrs: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *, kind: str,
               tool_args: str = "", tool_result: str = "") -> tuple[str, str]:
    """(InputText, OutputText) of a span: per side, the first source with content wins.

    Order: flightlog.* > GenAI (attributes, then span events) > tool arguments/result of a
    tool span > OpenInference > OpenLLMetry entities > Langfuse observations.
    """
    def event_texts(side: int) -> str:
        return _join(*(render_event(e.get("name") or "", e.get("attributes") or {},
                                    e.get("attributes") or {})[side] for e in events))

    def oi_embedding_texts() -> str:
        items = unflatten(attrs, sc.OPENINFERENCE_EMBEDDINGS)
        return _join(*(_text(item["embedding"].get("text")) for item in items
                       if isinstance(item, dict) and isinstance(item.get("embedding"), dict)))

    inputs = (
        lambda: _text(attrs.get(sc.INPUT)),
        lambda: _text(attrs.get(sc.RETRIEVAL_QUERY)),
        lambda: _text(attrs.get(sc.LEGACY_RETRIEVAL_QUERY)),  # written by earlier flightlog SDKs
        lambda: _join(render_system_instructions(attrs.get(sc.SYSTEM_INSTRUCTIONS)),
                      render_messages(attrs.get(sc.INPUT_MESSAGES))),
        lambda: render_flattened_messages(attrs, sc.LEGACY_PROMPT),
        lambda: render_messages(attrs.get(sc.LEGACY_PROMPT)),
        lambda: event_texts(0),
        lambda: tool_args if kind == "tool" else "",
        lambda: render_openinference_messages(attrs, sc.OPENINFERENCE_INPUT_MESSAGES),
        oi_embedding_texts,
        lambda: _json_text(attrs.get(sc.OPENINFERENCE_INPUT), "input"),
        lambda: _json_text(attrs.get(sc.TRACELOOP_INPUT), "input"),
        lambda: _json_text(attrs.get(sc.LANGFUSE_INPUT), "input"),
    )
    outputs = (
        lambda: _text(attrs.get(sc.OUTPUT)),
        lambda: render_documents(attrs.get(sc.RETRIEVAL_DOCUMENTS)),
        lambda: render_documents(attrs.get(sc.LEGACY_RETRIEVAL_DOCUMENTS)),  # written by earlier flightlog SDKs
        lambda: render_messages(attrs.get(sc.OUTPUT_MESSAGES)),
        lambda: render_flattened_messages(attrs, sc.LEGACY_COMPLETION, default_role="assistant"),
        lambda: render_messages(attrs.get(sc.LEGACY_COMPLETION)),
        lambda: event_texts(1),
        lambda: tool_result if kind == "tool" else "",
        lambda: render_openinference_messages(attrs, sc.OPENINFERENCE_OUTPUT_MESSAGES),
        lambda: render_documents(unflatten(attrs, sc.OPENINFERENCE_DOCUMENTS)),
        # an embedding's output.value is the vectors: nothing to search
        lambda: "" if kind == "embedding" else _json_text(attrs.get(sc.OPENINFERENCE_OUTPUT), "output"),
        lambda: _json_text(attrs.get(sc.TRACELOOP_OUTPUT), "output"),
        lambda: "" if kind == "embedding" else _json_text(attrs.get(sc.LANGFUSE_OUTPUT), "output"),
    )
    return _first_nonempty(inputs), _first_nonempty(outputs)


def render_event(name: str, body: Any, attributes: Mapping[str, Any]) -> tuple[str, str]:
    """(input text, output text) carried by one GenAI event, span event or log record.

    `body` is the log body (decoded AnyValue); for span events pass the event attributes,
    which hold the same keys. Events that carry no content give ("", "").
    """
    encoded = attributes.get(sc.EVENT_CONTENT)  # some SDKs JSON-encode the body here
    if encoded is not None:
        body = parse_json(encoded)
    elif isinstance(body, str) and name not in _MESSAGE_EVENT_ROLES and name != _CHOICE_EVENT:
        body = parse_json(body)
    if name == _DETAILS_EVENT:
        source = attributes if sc.INPUT_MESSAGES in attributes else body
        if not isinstance(source, dict):
            return "", ""
        system = render_system_instructions(source.get(sc.SYSTEM_INSTRUCTIONS))
        messages = render_messages(source.get(sc.INPUT_MESSAGES))
        return _join(system, messages), render_messages(source.get(sc.OUTPUT_MESSAGES))
    if name in _MESSAGE_EVENT_ROLES:
        if isinstance(body, str):
            return f"{_MESSAGE_EVENT_ROLES[name]}: {body}" if body else "", ""
        if isinstance(body, dict):
            return "\n".join(_message_lines(body, default_role=_MESSAGE_EVENT_ROLES[name])), ""
        return "", ""
    if name == _CHOICE_EVENT:
        if isinstance(body, str):
            return "", f"assistant: {body}" if body else ""
        return "", _render_choices([body]) if isinstance(body, dict) else ""
    if name == sc.EVENT_LEGACY_PROMPT:  # GenAI semconv <= 1.26: JSON list in an attribute
        return render_messages(attributes.get(sc.LEGACY_PROMPT)), ""
    if name == sc.EVENT_LEGACY_COMPLETION:
        return "", render_messages(attributes.get(sc.LEGACY_COMPLETION))
    return "", ""


def _render_choices(choices: list[Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for choice in choices:
        message = parse_json(choice.get("message"))
        if not isinstance(message, dict):
            message = choice
        lines.extend(_message_lines(message, default_role="assistant"))
    return "\n".join(lines)


def _message_lines(message: Mapping[str, Any], *, default_role: str) -> list[str]:
    """One `role: text` line per part of one message (any of the supported shapes)."""
    role = message.get("role") or default_role
    texts: list[str] = []
    parts = message.get("parts")
    if isinstance(parts, list):
        texts.extend(_part_text(part) for part in parts)
    content = message.get("content")
    if isinstance(content, list):
        texts.extend(_part_text(part) for part in content)
    elif content is not None and content != "":
        texts.append(stringify(content))
    tool_calls = parse_json(message.get("tool_calls"))
    for call in tool_calls if isinstance(tool_calls, list) else []:
        if isinstance(call, dict):
            texts.append(_tool_call_text(call))
    function_call = parse_json(message.get("function_call"))  # OpenAI's older single call (LiteLLM)
    if isinstance(function_call, dict) and function_call.get("name"):
        texts.append(_tool_call_text(function_call))
    prefix = f"{role}: " if role else ""
    return [prefix + text for text in texts if text]


def _part_text(part: Any) -> str:
    """Text of one GenAI message part (or one OpenAI content item, or a plain string)."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return stringify(part) if part is not None else ""
    kind = part.get("type", "")
    if kind == "tool_call":
        return _tool_call_text(part)
    if kind == "tool_call_response":
        response = part.get("response", part.get("result"))
        return stringify(response) if response is not None else ""
    text = _first_present(part, ("content", "text"))
    if text is not None:
        return stringify(text)
    if kind in ("blob", "file", "uri", "image_url", "input_audio"):
        detail = _first_present(part, ("mime_type", "modality", "uri", "file_id"))
        return f"[{kind} {detail}]" if detail is not None else f"[{kind}]"
    return stringify(dict(part)) if part else ""


def _tool_call_text(call: Mapping[str, Any]) -> str:
    """`tool_call name(arguments)` for a GenAI tool_call part or an OpenAI tool call."""
    function = call.get("function")
    source = function if isinstance(function, dict) else call
    name = source.get("name") or ""
    arguments = source.get("arguments")
    if arguments is None:
        arguments = ""
    return f"tool_call {name}({stringify(arguments)})"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first_present(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None and value != "":
            return value
    return None


def _join(*texts: str) -> str:
    return "\n".join(text for text in texts if text)


def _text(value: Any) -> str:
    return "" if value is None else stringify(value)


def _json_text(value: Any, side: str) -> str:
    return "" if value is None or value == "" else render_json_value(value, side=side)


def _first_nonempty(sources: tuple[Callable[[], str], ...]) -> str:
    for source in sources:
        text = source()
        if text:
            return text
    return ""
