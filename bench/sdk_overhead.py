"""Per-span cost of a flightlog ``llm_call`` span versus a bare opentelemetry-sdk span.

Both run on the same kind of pipeline: a TracerProvider with a SimpleSpanProcessor feeding an
InMemorySpanExporter, so the figure is the SDK's own work (attribute building, message
conversion, JSON, hashing), not network time. Each measurement first checks that the exporter
received exactly the number of spans sent.

    python bench/sdk_overhead.py --spans 20000 --message-chars 400
"""

from __future__ import annotations

import dataclasses
import gc
import random
import statistics
import string
import time

import click
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import flightlog


@dataclasses.dataclass(frozen=True)
class Settings:
    spans: int
    repeats: int
    message_chars: int
    messages: int
    seed: int


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + "     ") for _ in range(n))


def _bare(settings: Settings) -> float:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for _ in range(settings.spans):
        with tracer.start_as_current_span("chat bench-model"):
            pass
    elapsed = time.perf_counter() - started
    assert len(exporter.get_finished_spans()) == settings.spans, "bare: lost spans"
    provider.shutdown()
    return elapsed / settings.spans


def _flightlog(settings: Settings, payloads: list[tuple[list[dict], str]]) -> float:
    exporter = InMemorySpanExporter()
    flightlog.init(tracer_provider=TracerProvider(), exporter=exporter, batch=False, project="bench")
    started = time.perf_counter()
    for i in range(settings.spans):
        messages, reply = payloads[i % len(payloads)]
        with flightlog.llm_call("bench-model", provider="bench", prompt_id="p", prompt_version="1",
                                messages=messages) as call:
            call.set_output(reply)
            call.set_usage(input_tokens=120, output_tokens=40)
            call.set_finish_reason("stop")
            call.set_cost(0.0001)
    elapsed = time.perf_counter() - started
    assert len(exporter.get_finished_spans()) == settings.spans, "flightlog: lost spans"
    flightlog.shutdown()
    return elapsed / settings.spans


@click.command()
@click.option("--spans", default=20_000, show_default=True, help="Spans per measurement.")
@click.option("--repeats", default=5, show_default=True, help="Measurements per variant; the median is reported.")
@click.option("--message-chars", default=400, show_default=True, help="Characters per message and per reply.")
@click.option("--messages", default=3, show_default=True, help="Input messages per llm_call.")
@click.option("--seed", default=1234, show_default=True, help="Random seed for the message text.")
def main(spans: int, repeats: int, message_chars: int, messages: int, seed: int) -> None:
    """Print the per-span cost of a flightlog llm_call vs a bare OTel span, and the ratio."""
    settings = Settings(spans=spans, repeats=repeats, message_chars=message_chars, messages=messages, seed=seed)
    rng = random.Random(seed)
    payloads = [([{"role": "system" if j == 0 else "user", "content": _text(rng, message_chars)}
                  for j in range(messages)], _text(rng, message_chars)) for _ in range(64)]
    bare, instrumented = [], []
    for _ in range(repeats):
        gc.collect()
        bare.append(_bare(settings))
        gc.collect()
        instrumented.append(_flightlog(settings, payloads))
    b, f = statistics.median(bare), statistics.median(instrumented)
    click.echo(repr(settings))
    click.echo(f"bare opentelemetry-sdk span : {b * 1e6:8.1f} µs/span")
    click.echo(f"flightlog llm_call span     : {f * 1e6:8.1f} µs/span")
    click.echo(f"ratio                       : {f / b:8.2f}x  (+{(f - b) * 1e6:.1f} µs/span)")


if __name__ == "__main__":
    main()
