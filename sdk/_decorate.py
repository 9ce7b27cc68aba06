"""The decorator machinery shared by every step: one span per call of a decorated sync, async,
generator or async-generator function.

``StepDecorator`` is a mixin of ``_spans._Step``; it relies on the step's lifecycle methods
(``_copy``, ``_bind_call``, ``_begin``, ``_attach``/``_detach``, ``_end``, ``_guarded`` and
``_auto_result``). A generator's span stays open across yields but is current only while the
generator body runs.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

_logger = logging.getLogger("flightlog")
F = TypeVar("F", bound=Callable[..., Any])

_MAX_COLLECTED_CHUNKS = 10_000


def bound_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A decorated function's arguments by parameter name (``self``/``cls`` left out)."""
    bound = inspect.signature(fn).bind_partial(*args, **kwargs)
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


class StepDecorator:
    """Makes a step usable as a decorator (see the module docstring)."""

    def _auto_result(self, value: Any) -> None:
        """Record a decorated call's return value (each step kind says where it goes)."""

    def _for_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        step = self._copy()  # type: ignore[attr-defined]
        try:
            step._bind_call(fn, args, kwargs)
        except Exception:  # noqa: BLE001 - argument capture is best effort
            _logger.debug("flightlog: could not bind call arguments", exc_info=True)
        return step

    def __call__(self, fn: F) -> F:
        """Decorate a sync/async function or generator: one span per call."""
        if inspect.isasyncgenfunction(fn):
            return self._wrap_async_generator(fn)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            return self._wrap_generator(fn)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                step = self._for_call(fn, args, kwargs)
                with step:
                    result = await fn(*args, **kwargs)
                    step._guarded(step._auto_result, result)
                    return result
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            step = self._for_call(fn, args, kwargs)
            with step:
                result = fn(*args, **kwargs)
                step._guarded(step._auto_result, result)
                return result
        return wrapper  # type: ignore[return-value]

    def _wrap_generator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        # The span stays open across yields but is current only while the generator body runs,
        # so the consumer's own spans between items are not parented under it.
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            step = self._for_call(fn, args, kwargs)
            step._begin()
            chunks: list[Any] = []
            try:
                step._attach()
                try:
                    gen = fn(*args, **kwargs)
                finally:
                    step._detach()
                method, value = gen.send, None
                while True:
                    step._attach()
                    try:
                        item = method(value)
                    except StopIteration as stop:
                        step._guarded(step._auto_chunks, chunks, stop.value)
                        step._end()
                        return stop.value
                    finally:
                        step._detach()
                    if not chunks:
                        step._guarded(step._first_chunk)
                    if len(chunks) < _MAX_COLLECTED_CHUNKS:
                        chunks.append(item)
                    try:
                        value = yield item
                        method = gen.send
                    except GeneratorExit:
                        step._attach()
                        try:
                            gen.close()
                        finally:
                            step._detach()
                        step._end()
                        raise
                    except BaseException as exc:  # noqa: BLE001 - forwarded into the generator
                        method, value = gen.throw, exc
            except BaseException as exc:
                step._end(exc)
                raise
        return wrapper

    def _wrap_async_generator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            step = self._for_call(fn, args, kwargs)
            step._begin()
            chunks: list[Any] = []
            try:
                step._attach()
                try:
                    agen = fn(*args, **kwargs)
                finally:
                    step._detach()
                method, value = agen.asend, None
                while True:
                    step._attach()
                    try:
                        item = await method(value)
                    except StopAsyncIteration:
                        step._guarded(step._auto_chunks, chunks, None)
                        step._end()
                        return
                    finally:
                        step._detach()
                    if not chunks:
                        step._guarded(step._first_chunk)
                    if len(chunks) < _MAX_COLLECTED_CHUNKS:
                        chunks.append(item)
                    try:
                        value = yield item
                        method = agen.asend
                    except GeneratorExit:
                        step._attach()
                        try:
                            await agen.aclose()
                        finally:
                            step._detach()
                        step._end()
                        raise
                    except BaseException as exc:  # noqa: BLE001 - forwarded into the generator
                        method, value = agen.athrow, exc
            except BaseException as exc:
                step._end(exc)
                raise
        return wrapper

    def _first_chunk(self) -> None:
        """A decorated generator yielded its first item (streaming LLM calls time it)."""

    def _auto_chunks(self, chunks: list[Any], returned: Any) -> None:
        """Record a generator's output: joined text if it yielded strings, else the items."""
        if returned is not None:
            self._auto_result(returned)
        elif chunks and all(isinstance(c, str) for c in chunks):
            self._auto_result("".join(chunks))
        elif chunks:
            self._auto_result(chunks)

