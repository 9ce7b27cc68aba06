"""Tests for flightlog.semconv, the one attribute vocabulary: what the SDK writes is declared
there, every declared SDK key is read by the collector or deliberately kept raw, and the
readers spell keys through the vocabulary instead of their own literals.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog
from flightlog import semconv

ROOT = Path(__file__).resolve().parents[1]
#: The modules that read the vocabulary: mapping, content rendering, pricing, repricing, the
#: checkpoint audit view, the UI transcript and span panel, and the demo traces.
READERS = [
    *sorted((ROOT / "collector" / "ingest").glob("*.py")),
    *sorted((ROOT / "collector" / "genai").glob("*.py")),
    *sorted((ROOT / "collector" / "demo").glob("*.py")),
    ROOT / "collector" / "pricing.py", ROOT / "storage" / "reprice.py", ROOT / "storage" / "audit.py",
    ROOT / "ui" / "transcript.py", ROOT / "ui" / "format.py", ROOT / "ui" / "views" / "trace.py",
]
SERVER_READERS = [p for p in READERS if "demo" not in p.parts and "ui" not in p.parts]
_NAME = re.compile(r"\bsc\.([A-Z][A-Z0-9_]*)\b")


def _names_used(paths: list[Path]) -> set[str]:
    """semconv names a module uses, as ``sc.NAME`` or ``from flightlog.semconv import NAME``."""
    names: set[str] = set()
    for path in paths:
        source = path.read_text()
        names.update(_NAME.findall(source))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module == "flightlog.semconv":
                names.update(alias.name for alias in node.names)
    return names


def _keys_of(names: set[str]) -> set[str]:
    keys: set[str] = set()
    for name in names:
        value = getattr(semconv, name)
        if isinstance(value, str):
            keys.add(value)
        elif isinstance(value, tuple):
            keys.update(value)
    return keys


def _run_every_step_kind(exporter: InMemorySpanExporter) -> None:
    flightlog.init(tracer_provider=TracerProvider(), exporter=exporter, batch=False, project="acme",
                   agent_version="1.2.0")
    try:
        with flightlog.agent_run("vocab-bot", user_id="u-1", session_id="s-1", input="hi") as run:
            with flightlog.llm_call("gpt-4o-mini", provider="openai", prompt_id="p", prompt_version="3",
                                    prompt_template="Say {x}", prompt_variables={"x": "hi"},
                                    messages=[{"role": "user", "content": "hi"}], temperature=0.2,
                                    max_tokens=50) as call:
                call.mark_first_chunk()
                call.set_output("hello")
                call.set_usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=2,
                               cache_creation_input_tokens=1, reasoning_tokens=1)
                call.set_finish_reason("stop")
                call.set_cost(0.001)
            with flightlog.tool_call("lookup", arguments={"q": "x"}, call_id="call_1") as tool:
                tool.set_result({"ok": True})
            with flightlog.retrieval("refund", source="kb", top_k=1) as found:
                found.set_documents([{"id": "d1", "score": 0.9, "content": "text"}])
            with flightlog.handoff("billing-bot", reason="billing question"):
                pass
            flightlog.checkpoint("send the e-mail", tier=1, confidence=0.9)
            run.set_output("done")
    finally:
        flightlog.shutdown()


def test_the_sdk_writes_only_keys_the_vocabulary_declares() -> None:
    exporter = InMemorySpanExporter()
    _run_every_step_kind(exporter)
    spans = exporter.get_finished_spans()
    written = {key for span in spans for key in (span.attributes or {})}
    assert {s.name.split()[0] for s in spans} >= {"invoke_agent", "chat", "execute_tool", "retrieval",
                                                    "handoff", "checkpoint"}
    assert written - semconv.SDK_KEYS == set()
    # The run exercised most of the vocabulary, so the check above means something.
    assert len(written & semconv.SDK_KEYS) >= 0.7 * len(semconv.SDK_KEYS)


def test_every_key_the_sdk_writes_is_read_into_a_column_or_kept_raw_on_purpose() -> None:
    read = _keys_of(_names_used(SERVER_READERS))
    kept = set(semconv.KEPT_IN_ATTRIBUTES)
    unaccounted = sorted(semconv.SDK_KEYS - read - kept)
    assert unaccounted == [], f"SDK keys neither mapped nor listed in KEPT_IN_ATTRIBUTES: {unaccounted}"
    both = sorted(kept & read & semconv.SDK_KEYS)
    assert both == [] or all("read from SpanAttributes" in semconv.KEPT_IN_ATTRIBUTES[k] for k in both), both
    assert kept <= semconv.SDK_KEYS


def test_keys_kept_raw_for_a_reader_are_really_read_by_it() -> None:
    used = _keys_of(_names_used(READERS))
    for key, reason in semconv.KEPT_IN_ATTRIBUTES.items():
        if reason.startswith("read from SpanAttributes"):
            assert key in used, f"{key}: {reason}, but no reader uses it"


@pytest.mark.parametrize("path", READERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_readers_spell_vocabulary_keys_through_semconv(path: Path) -> None:
    vocabulary = _keys_of({name for name in dir(semconv) if name.isupper()})
    literals = {node.value for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    docstrings = {ast.get_docstring(n) for n in ast.walk(ast.parse(path.read_text()))
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}
    assert sorted((literals - docstrings) & vocabulary) == []


def test_the_vocabulary_imports_nothing() -> None:
    tree = ast.parse((ROOT / "sdk" / "semconv.py").read_text())
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [ast.unparse(n) for n in imports] == ["from __future__ import annotations"]
