"""A deterministic generator of realistic agent traces for the storage benchmark.

Same seed and sizes → the same spans, byte for byte. Traces look like what the GenAI
instrumentations send: an ``invoke_agent`` root, then steps of an LLM call (0.5–2 KB of
prompt and answer text in the vocabulary of collector/demo/text.py) and a tool call
(smaller arguments and result), with several agents and versions, models (one without a
price), prompt versions, users and sessions, ~3 % failing tool calls, a handful of rare
marker words and one deep incident trace.

Spans come out in the decoded shape of docs/contracts.md, "Decoded span" (``RawSpan`` dicts), which
the benchmark either encodes as OTLP protobuf (end-to-end ingest) or normalises with the
collector's own pipeline (raw insert ceiling), so both paths store the same rows.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from flightlog.collector.demo import text as demo_text

AGENTS = {
    "support-bot": ["1.4.0", "1.5.0", "1.6.0"],
    "refund-bot": ["2.2.0", "2.3.0"],
    "research-agent": ["0.9.1", "1.0.0"],
    "sql-analyst": ["3.1.0"],
    "triage-bot": ["1.0.0", "1.1.0"],
}
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-flash", "o4-mini",
          "llama-3.3-70b-instruct"]  # the last one has no price: counted as unknown
MODEL_WEIGHTS = [25, 30, 15, 10, 10, 5, 5]
TOOLS = ["search_orders", "issue_refund", "web_search", "run_sql", "lookup_runbook", "send_email", "get_weather"]
RARE_WORDS = ["quokkazine", "marmotrix", "zanzibarite", "pelicanova", "ocelotrum",
              "axolotlium", "capybarix", "narwhalite", "wombatique", "lemurgon"]
COMMON_WORD = "refund"
INCIDENT_WORD = "zephyrquake"
DEEP_DEPTH = 60  # agent → llm → tool levels of the incident trace


def _vocabulary() -> list[str]:
    words: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            words.extend(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]{1,}", value))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    for name in dir(demo_text):
        if name.isupper():
            walk(getattr(demo_text, name))
    return sorted(set(words))


@dataclass(frozen=True)
class Workload:
    """What to generate: explicit sizes, fixed seed."""

    spans: int = 1_000_000
    days: int = 30
    seed: int = 7
    end_ns: int = 1_793_491_200 * 1_000_000_000  # 2026-11-01T00:00Z
    users: int = 2000

    @property
    def start_ns(self) -> int:
        return self.end_ns - self.days * 86_400 * 1_000_000_000


@dataclass
class Markers:
    """Where the generator put what the queries look for."""

    rare_words: dict[str, int] = field(default_factory=dict)  # word → spans carrying it
    deep_trace_id: str = ""
    sample_trace_ids: list[str] = field(default_factory=list)


class Generator:
    """Yields traces (lists of RawSpan dicts) until ``workload.spans`` spans were made."""

    MEAN_SPANS_PER_TRACE = 11

    def __init__(self, workload: Workload) -> None:
        self.w = workload
        self.rng = random.Random(workload.seed)
        vocab = _vocabulary()
        self.rng.shuffle(vocab)
        # Zipf-like weights: a few words are very common, most are rare.
        self.vocab = vocab
        self.cum_weights = []
        total = 0.0
        for rank in range(len(vocab)):
            total += 1.0 / (rank + 1) ** 1.05
            self.cum_weights.append(total)
        self.markers = Markers()
        self.traces_expected = max(1, workload.spans // self.MEAN_SPANS_PER_TRACE)
        self.rare_at = {int(self.traces_expected * (i + 0.5) / len(RARE_WORDS)): w for i, w in enumerate(RARE_WORDS)}
        self.deep_at = self.traces_expected // 2

    # -- text ---------------------------------------------------------------------------
    def text(self, chars: int, extra: str = "") -> str:
        words = self.rng.choices(self.vocab, cum_weights=self.cum_weights, k=max(4, chars // 6))
        out = " ".join(words)
        if self.rng.random() < 0.15:
            out = f"{COMMON_WORD} {out}"
        return (f"{extra} {out}" if extra else out)[:chars]

    def _id(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    # -- spans --------------------------------------------------------------------------
    def _span(self, trace_id: str, parent: str, name: str, start: int, dur: int, attrs: dict, *,
              agent: str, version: str, error: str = "") -> dict:
        return {
            "trace_id": trace_id, "span_id": self._id(64), "parent_span_id": parent, "trace_state": "",
            "name": name, "kind": 3 if attrs.get("gen_ai.operation.name") == "chat" else 1,
            "start_ns": start, "end_ns": start + dur, "attributes": attrs,
            "resource": {"service.name": agent, "service.version": version},
            "scope_name": "flightlog-bench", "scope_version": "1",
            "status_code": 2 if error else 0, "status_message": error, "events": [], "links": [],
        }

    def trace(self, number: int) -> list[dict]:
        rng = self.rng
        agent = rng.choice(list(AGENTS))
        version = rng.choice(AGENTS[agent])
        user = f"user-{int(rng.paretovariate(1.2) * 7) % self.w.users:05d}"
        session = f"sess-{number // 3:08x}"
        span_ns = self.w.end_ns - self.w.start_ns
        t = self.w.start_ns + int(span_ns * number / self.traces_expected) + rng.randrange(1_000_000_000)
        trace_id = self._id(128)
        root_attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent,
                      "gen_ai.agent.version": version, "user.id": user, "gen_ai.conversation.id": session}
        deep = number == self.deep_at
        steps = DEEP_DEPTH if deep else rng.randint(2, 8)
        prompt_version = f"v{rng.randint(1, 4)}"
        spans: list[dict] = []
        root = self._span(trace_id, "", f"invoke_agent {agent}", t, 1, root_attrs, agent=agent, version=version)
        spans.append(root)
        parent = root["span_id"]
        now = t + 1_000_000
        rare = self.rare_at.get(number)
        for step in range(steps):
            model = rng.choices(MODELS, weights=MODEL_WEIGHTS)[0]
            in_chars, out_chars = rng.randint(300, 1500), rng.randint(200, 500)
            extra = rare if (rare and step == 0) else ""
            if extra:
                self.markers.rare_words[extra] = self.markers.rare_words.get(extra, 0) + 1
            prompt = self.text(in_chars, extra)
            answer = self.text(out_chars)
            llm_dur = rng.randint(300, 4000) * 1_000_000
            tool = rng.choice(TOOLS)
            llm = self._span(trace_id, parent, f"chat {model}", now, llm_dur, {
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": in_chars // 4, "gen_ai.usage.output_tokens": out_chars // 4,
                "flightlog.prompt.id": f"{agent}-main", "flightlog.prompt.version": prompt_version,
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
                "gen_ai.agent.name": agent, "user.id": user, "gen_ai.conversation.id": session,
            }, agent=agent, version=version)
            spans.append(llm)
            now += llm_dur
            fails = rng.random() < 0.03 or (deep and step == steps - 1)
            error = (f"{tool} failed: {INCIDENT_WORD} upstream timeout" if deep and step == steps - 1
                     else f"{tool} failed: upstream timeout after 30000 ms") if fails else ""
            tool_dur = rng.randint(20, 1500) * 1_000_000
            tool_span = self._span(trace_id, llm["span_id"] if deep else parent, f"execute_tool {tool}", now, tool_dur, {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.call.id": self._id(32),
                "gen_ai.tool.call.arguments": json.dumps({"query": self.text(rng.randint(40, 120))}),
                "gen_ai.tool.call.result": json.dumps({"result": self.text(rng.randint(100, 400))} if not fails
                                                      else {"error": error}),
                "gen_ai.agent.name": agent, "user.id": user, "gen_ai.conversation.id": session,
            }, agent=agent, version=version, error=error)
            spans.append(tool_span)
            now += tool_dur
            if deep:
                parent = tool_span["span_id"]
        root["end_ns"] = now
        if deep:
            self.markers.deep_trace_id = trace_id
        if number % 997 == 0 and len(self.markers.sample_trace_ids) < 500:
            self.markers.sample_trace_ids.append(trace_id)
        return spans

    def traces(self) -> Iterator[list[dict]]:
        made = 0
        number = 0
        while made < self.w.spans:
            spans = self.trace(number)
            spans = spans[: self.w.spans - made]
            made += len(spans)
            number += 1
            yield spans


def encode_request(spans: list[dict]) -> bytes:
    """One OTLP ExportTraceServiceRequest (protobuf) holding ``spans``, grouped by service."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    def kv(key: str, value: object) -> KeyValue:
        if isinstance(value, bool):
            return KeyValue(key=key, value=AnyValue(bool_value=value))
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    request = ExportTraceServiceRequest()
    by_service: dict[tuple, list[dict]] = {}
    for span in spans:
        by_service.setdefault(tuple(sorted(span["resource"].items())), []).append(span)
    for resource, group in by_service.items():
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(kv(k, v) for k, v in resource)
        ss = rs.scope_spans.add()
        ss.scope.name = "flightlog-bench"
        for s in group:
            ss.spans.append(Span(
                trace_id=bytes.fromhex(s["trace_id"]), span_id=bytes.fromhex(s["span_id"]),
                parent_span_id=bytes.fromhex(s["parent_span_id"]) if s["parent_span_id"] else b"",
                name=s["name"], kind=s["kind"], start_time_unix_nano=s["start_ns"], end_time_unix_nano=s["end_ns"],
                attributes=[kv(k, v) for k, v in s["attributes"].items()],
                status=Status(code=s["status_code"], message=s["status_message"]),
            ))
    return request.SerializeToString()
