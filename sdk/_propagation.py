"""Carrying a trace across threads, tasks, processes and agents.

asyncio tasks copy the caller's context by themselves. Threads do not: wrap the target with
``bind_context`` (or use ``start_thread``). Between processes or agents, ``inject`` writes W3C
``traceparent``/``tracestate`` (and ``baggage``) headers into a dict, and ``extract`` turns them
back into a context to pass as ``agent_run(parent=...)``.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

T = TypeVar("T")
_PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


def inject(carrier: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Write the current trace position into ``carrier`` (a new dict if None) and return it.

    Example::

        with flightlog.handoff("billing-agent"):
            queue.put({"task": task, "headers": flightlog.inject()})
    """
    if carrier is None:
        carrier = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    """A context continuing the trace written by ``inject``; pass it as ``agent_run(parent=...)``.

    The result starts from an empty context, so nothing of the receiver's current run leaks in.
    """
    return _PROPAGATOR.extract(dict(carrier or {}), context=otel_context.Context())


def bind_context(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to the caller's current context (trace position and flightlog run).

    Use it for threads and executors: ``pool.submit(flightlog.bind_context(work), item)``.
    Each call runs in its own copy of the captured context, so the wrapper may be called
    concurrently.
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> T:
        return captured.copy().run(fn, *args, **kwargs)

    return bound


def start_thread(target: Callable[..., Any], *args: Any, name: str | None = None, daemon: bool | None = None,
                 **kwargs: Any) -> threading.Thread:
    """Start a thread running ``target(*args, **kwargs)`` inside the caller's context."""
    thread = threading.Thread(target=bind_context(target), args=args, kwargs=kwargs, name=name, daemon=daemon)
    thread.start()
    return thread
