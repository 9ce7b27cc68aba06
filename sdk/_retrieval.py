"""Retrievals: the query and the documents (ids and scores as metadata, text as content) of one
retrieval step (``retrieval [source]`` spans)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import semconv as K
from ._decorate import bound_arguments
from ._spans import _Step


class Retrieval(_Step):
    """One retrieval (``retrieval [source]``). Returned by ``flightlog.retrieval()``."""

    span_type = "retrieval"
    operation = "retrieval"

    def __init__(self, query: Any = None, *, source: str | None = None, top_k: int | None = None,
                 attributes: Mapping[str, Any] | None = None) -> None:
        super().__init__(attributes=attributes)
        self.query = query
        self.source = source
        self.top_k = top_k
        self._documents: list[Any] | None = None

    def _copy(self) -> Retrieval:
        return Retrieval(self.query, source=self.source, top_k=self.top_k, attributes=self._extra)

    def _bind_call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self.query is None:
            arguments = bound_arguments(fn, args, kwargs)
            self.query = arguments.get("query", next(iter(arguments.values()), None))

    def _span_name(self) -> str:
        return f"retrieval {self.source}" if self.source else "retrieval"

    def _start_attributes(self) -> dict[str, Any]:
        return {K.DATA_SOURCE: self.source, K.TOP_K: self.top_k}

    def _finish_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {K.RETRIEVAL_QUERY: self._content(self.query)}
        if self._documents is not None:
            documents = self._documents
            if not self.config.capture_content:  # ids and scores are metadata; text is content
                documents = [{k: v for k, v in d.items() if k in ("id", "score")} if isinstance(d, Mapping)
                             else {} for d in documents]
            attributes[K.RETRIEVAL_DOCUMENTS] = self._metadata_text(documents, as_json=True)
            attributes[K.RETRIEVAL_DOCUMENT_COUNT] = len(self._documents)
        return attributes

    def set_documents(self, documents: list[Any]) -> None:
        """Record the retrieved documents, e.g. ``[{"id": "d1", "score": 0.8, "content": "…"}]``."""
        self._documents = list(documents)

    def _auto_result(self, value: Any) -> None:
        if self._documents is None and isinstance(value, (list, tuple)):
            self.set_documents(list(value))


def retrieval(query: Any = None, *, source: str | None = None, top_k: int | None = None,
              attributes: Mapping[str, Any] | None = None) -> Retrieval:
    """A span for one retrieval step; context manager or decorator.

    Example::

        with flightlog.retrieval(question, source="kb", top_k=3) as r:
            r.set_documents([{"id": "d1", "score": 0.82, "content": "Refunds take 5 days."}])

    Writes ``flightlog.retrieval.query`` and ``flightlog.retrieval.documents`` (JSON). As a
    decorator, the query defaults to the ``query`` (or first) argument and documents to a
    returned list.
    """
    return Retrieval(query, source=source, top_k=top_k, attributes=attributes)
