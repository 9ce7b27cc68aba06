"""Named aliases for the loose input shapes the public API accepts (one canonical type each)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

MessageInput = Union[str, Mapping[str, Any]]
"""One chat message: a string, a ``{"role", "content"}`` dict or a GenAI ``{"role", "parts"}`` dict."""

MessagesInput = Union[str, Mapping[str, Any], Sequence[MessageInput]]
"""A string, one message or a sequence of messages."""

RedactHook = Callable[[str], str]
"""A function that returns its text argument with secrets removed."""

RedactInput = Union[RedactHook, str, "re.Pattern[str]", Iterable[Union[str, "re.Pattern[str]"]], None]
"""``redact=`` accepts a hook, one regex, or several regexes (matches become ``[REDACTED]``)."""

