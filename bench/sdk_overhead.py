"""Per-span cost of a flightlog ``llm_call`` span versus a bare opentelemetry-sdk span.

Both run on the same kind of pipeline: a TracerProvider with a SimpleSpanProcessor feeding an
InMemorySpanExporter, so the figure is the SDK's own work (attribute building, message
conversion, JSON, hashing), not network time. Each measurement first checks that the exporter
received exactly the number of spans sent, and that the llm_call spans carry every attribute
they should (so a speed-up cannot come from dropping one).

The ratio is against a bare span with no attributes, as issue 3 asks. For context the script
also prints two figures that are not part of the ratio:

- *same attributes, precomputed*: an opentelemetry-sdk span given the llm_call span's 14
  attributes as ready-made values. That is what opentelemetry-sdk itself charges for storing
  them (validation, copying, locking).
- *hand-written equivalent*: what a team would write with the plain OpenTelemetry API to record
  the same call: ``tracer.start_as_current_span`` with the request attributes, ``json.dumps``
  of the GenAI input and output messages, ``hashlib.sha256`` of the input for the prompt hash,
  then the response attributes. No instrumentation that records this data can be much cheaper.

Every measurement drops its finished spans before the next one starts. (The exporters keep them
for the checks; left alive, hundreds of thousands of spans would make every later garbage
collection slower, inflating whichever variant runs later.)

    python bench/sdk_overhead.py --spans 20000 --message-chars 400

Time is the process's CPU time by default (``--clock cpu``): on a shared, loaded machine wall
time mostly measures the scheduler. ``--clock wall`` gives wall time. The benchmark is
single-threaded (SimpleSpanProcessor exports on the caller's thread), so on an idle machine the
two agree.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import random
import statistics
import string
import time

import click
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
_clock = CLOCKS["cpu"]


@dataclasses.dataclass(frozen=True)
class Settings:
    spans: int
    repeats: int
    message_chars: int
    messages: int
    seed: int


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + "     ") for _ in range(n))


def _pipeline() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A plain opentelemetry-sdk pipeline: exporting on the caller's thread into memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _checked(label: str, settings: Settings, exporter: InMemorySpanExporter, provider: TracerProvider | None,
             keys: frozenset[str] = frozenset(), sample: dict | None = None) -> None:
    """Every span arrived and carries ``keys``; then drop the spans (see the module docstring)."""
    finished = exporter.get_finished_spans()
    assert len(finished) == settings.spans, f"{label}: lost spans"
    missing = keys - set(finished[-1].attributes)
    assert not missing, f"{label}: span lacks {sorted(missing)}"
    if sample is not None:
        sample.update(finished[-1].attributes)
    exporter.clear()
    if provider is not None:
        provider.shutdown()


def _bare(settings: Settings) -> float:
    provider, exporter = _pipeline()
    tracer = provider.get_tracer("bench")
    started = _clock()
    for _ in range(settings.spans):
        with tracer.start_as_current_span("chat bench-model"):
            pass
    elapsed = _clock() - started
    _checked("bare", settings, exporter, provider)
    return elapsed / settings.spans


# Every attribute the bench's llm_call span must carry (checked on each flightlog measurement).
EXPECTED_KEYS = frozenset({
    "flightlog.span.type", "gen_ai.operation.name", "flightlog.project", "gen_ai.request.model",
    "gen_ai.provider.name", "flightlog.prompt.id", "flightlog.prompt.version", "flightlog.prompt.hash",
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.response.finish_reasons", "flightlog.cost.usd",
})


def _same_attributes(settings: Settings, reference: dict) -> float:
    """Reference only (not in the ratio): a bare OTel span given the llm_call span's attributes,
    precomputed, the start ones at start and the rest at the end, as flightlog sets them."""
    start = {k: v for k, v in reference.items() if not k.startswith(("gen_ai.usage", "gen_ai.input", "gen_ai.output",
                                                                     "gen_ai.response", "flightlog.cost",
                                                                     "flightlog.prompt.hash"))}
    finish = {k: v for k, v in reference.items() if k not in start}
    provider, exporter = _pipeline()
    tracer = provider.get_tracer("bench")
    started = _clock()
    for _ in range(settings.spans):
        with tracer.start_as_current_span("chat bench-model", kind=SpanKind.CLIENT, attributes=start) as span:
            span.set_attributes(finish)
    elapsed = _clock() - started
    _checked("same-attributes", settings, exporter, provider, EXPECTED_KEYS)
    return elapsed / settings.spans


def _hand_written(settings: Settings, payloads: list[tuple[list[dict], str]]) -> float:
    """Reference only (not in the ratio): the same call recorded with the plain OpenTelemetry API."""
    provider, exporter = _pipeline()
    tracer = provider.get_tracer("bench")
    started = _clock()
    for i in range(settings.spans):
        messages, reply = payloads[i % len(payloads)]
        with tracer.start_as_current_span("chat bench-model", kind=SpanKind.CLIENT, attributes={
                "flightlog.span.type": "llm", "gen_ai.operation.name": "chat", "flightlog.project": "bench",
                "gen_ai.request.model": "bench-model", "gen_ai.provider.name": "bench",
                "flightlog.prompt.id": "p", "flightlog.prompt.version": "1"}) as span:
            input_json = json.dumps([{"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
                                     for m in messages], ensure_ascii=False)
            span.set_attributes({
                "flightlog.prompt.hash": hashlib.sha256(input_json.encode()).hexdigest(),
                "gen_ai.input.messages": input_json,
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                    {"type": "text", "content": reply}], "finish_reason": "stop"}], ensure_ascii=False),
                "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40,
                "gen_ai.response.finish_reasons": ["stop"], "flightlog.cost.usd": 0.0001,
            })
    elapsed = _clock() - started
    _checked("hand-written", settings, exporter, provider, EXPECTED_KEYS)
    return elapsed / settings.spans


def _flightlog(settings: Settings, payloads: list[tuple[list[dict], str]], sample: dict | None = None) -> float:
    exporter = InMemorySpanExporter()
    flightlog.init(tracer_provider=TracerProvider(), exporter=exporter, batch=False, project="bench")
    started = _clock()
    for i in range(settings.spans):
        messages, reply = payloads[i % len(payloads)]
        with flightlog.llm_call("bench-model", provider="bench", prompt_id="p", prompt_version="1",
                                messages=messages) as call:
            call.set_output(reply)
            call.set_usage(input_tokens=120, output_tokens=40)
            call.set_finish_reason("stop")
            call.set_cost(0.0001)
    elapsed = _clock() - started
    _checked("flightlog", settings, exporter, None, EXPECTED_KEYS, sample)
    flightlog.shutdown()
    return elapsed / settings.spans


@click.command()
@click.option("--spans", default=20_000, show_default=True, help="Spans per measurement.")
@click.option("--repeats", default=5, show_default=True, help="Measurements per variant; the median is reported.")
@click.option("--message-chars", default=400, show_default=True, help="Characters per message and per reply.")
@click.option("--messages", default=3, show_default=True, help="Input messages per llm_call.")
@click.option("--seed", default=1234, show_default=True, help="Random seed for the message text.")
@click.option("--clock", type=click.Choice(sorted(CLOCKS)), default="cpu", show_default=True,
              help="cpu: process CPU time (robust on a busy machine); wall: elapsed time.")
def main(spans: int, repeats: int, message_chars: int, messages: int, seed: int, clock: str) -> None:
    """Print the per-span cost of a flightlog llm_call vs a bare OTel span, and the ratio."""
    global _clock
    _clock = CLOCKS[clock]
    settings = Settings(spans=spans, repeats=repeats, message_chars=message_chars, messages=messages, seed=seed)
    rng = random.Random(seed)
    payloads = [([{"role": "system" if j == 0 else "user", "content": _text(rng, message_chars)}
                  for j in range(messages)], _text(rng, message_chars)) for _ in range(64)]
    sample: dict = {}
    _flightlog(Settings(spans=1, repeats=1, message_chars=message_chars, messages=messages, seed=seed),
               payloads, sample)  # warm-up, and the attributes for the reference span
    bare, instrumented, reference, hand = [], [], [], []
    for _ in range(repeats):
        gc.collect()
        bare.append(_bare(settings))
        gc.collect()
        instrumented.append(_flightlog(settings, payloads))
        gc.collect()
        reference.append(_same_attributes(settings, sample))
        gc.collect()
        hand.append(_hand_written(settings, payloads))
    b, f, r = statistics.median(bare), statistics.median(instrumented), statistics.median(reference)
    h = statistics.median(hand)
    click.echo(f"{settings!r}, clock={clock}, median of {repeats}")
    click.echo(f"bare opentelemetry-sdk span : {b * 1e6:8.1f} µs/span")
    click.echo(f"flightlog llm_call span     : {f * 1e6:8.1f} µs/span")
    click.echo(f"ratio                       : {f / b:8.2f}x  (+{(f - b) * 1e6:.1f} µs/span)")
    click.echo(f"(reference, not in ratio) opentelemetry-sdk span with the same {len(sample)} attributes, "
               f"precomputed: {r * 1e6:.1f} µs/span = {r / b:.2f}x bare")
    click.echo(f"(reference, not in ratio) hand-written opentelemetry-api span recording the same call "
               f"(json.dumps, sha256): {h * 1e6:.1f} µs/span = {h / b:.2f}x bare; flightlog = {f / h:.2f}x that")


if __name__ == "__main__":
    main()
