"""Response contracts shared by every route (the API's models are in :mod:`.api.models`).

- :class:`ApiModel`: the base of every response model, a closed JSON object (no keys beyond
  its fields); :class:`ErrorBody`, the one JSON error answer.

- :func:`respond`: a route's already-built answer is sent as JSON without a pass through its
  model. Validating a 2,000-span trace against :class:`~.api.models.Trace` costs ~40 ms more
  than writing it (5x the serialisation, on the event loop), and a key that drifted from its
  model would either fail the request (``extra="forbid"``) or vanish silently
  (``extra="ignore"``). The bytes are those FastAPI wrote before the routes had models
  (:class:`ApiJSONResponse`).
- :func:`errors`: the ``responses=`` entries of a route's error statuses (:class:`ErrorBody`).
- :class:`ContractRoute`: the route class of every router. With the ``strict_responses``
  setting (``FLIGHTLOG_STRICT_RESPONSES=1``; every collector the test suite starts has it)
  each JSON answer a route returns is validated strictly against the route's model, extra
  keys forbidden at every level, and a mismatch is answered 500 and logged: the whole test
  suite then checks the contracts, not only ``tests/test_api_contract.py``.
- :func:`without_422`: the app answers invalid parameters with 400 (one error handler in
  :mod:`flightlog.collector.app`), never FastAPI's 422, so the schema must not promise 422.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)


class ApiModel(BaseModel):
    """Base of the response models: a closed JSON object (no keys beyond its fields)."""

    model_config = ConfigDict(extra="forbid")


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def sometimes(description: str) -> Any:
    """A field the answer carries only in some cases (not required; absent, never null)."""
    return Field(default=None, description=description, json_schema_extra=_drop_default)


class ErrorBody(ApiModel):
    """Every JSON error answer (a protobuf OTLP request gets a ``google.rpc.Status`` instead)."""

    error: str = Field(description="What went wrong, for people (the offending parameter, the limit, …).")
    status: int = Field(description="The HTTP status code, repeated.")


_ERROR_TEXT = {
    400: "Malformed parameters, ids or body (the message names the parameter)",
    401: "No API key, or an unknown or revoked key",
    403: "The key's role may not use this route (or an admin key may not manage that project)",
    404: "Not found in the key's project",
    409: "The object is not in a state that allows this (already decided, expired or used)",
    413: "Body (or its decompressed form) over the configured limit",
    415: "Content-Type or Content-Encoding not supported",
    429: "The spool is full: retry after Retry-After seconds",
    503: "The store is unavailable or the query timed out (Retry-After is set)",
}
ERROR_STATUSES = frozenset(_ERROR_TEXT)
PROTOBUF_BODY = {"schema": {"type": "string", "format": "binary"}}


def errors(*codes: int, protobuf: bool = False, non_json_route: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these error statuses, each answering :class:`ErrorBody`.

    ``protobuf``: a protobuf request gets a ``google.rpc.Status`` message instead (OTLP).
    ``non_json_route``: the route's own answer is not JSON (its ``response_class`` would
    otherwise give the error entries its media type): the schema is referenced explicitly.
    """
    unknown = set(codes) - ERROR_STATUSES
    if unknown:
        raise ValueError(f"no documented error text for {sorted(unknown)}")
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"description": _ERROR_TEXT[code]}
        if non_json_route:
            entry["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        else:
            entry["model"] = ErrorBody
        if protobuf:
            entry["description"] += "; a protobuf request gets a google.rpc.Status message"
            entry["content"] = {"application/x-protobuf": PROTOBUF_BODY}
        out[code] = entry
    return out


_ANY: TypeAdapter[Any] = TypeAdapter(Any)


class ApiJSONResponse(JSONResponse):
    """JSON written by pydantic's serializer for untyped values: the bytes FastAPI wrote when
    the routes were annotated ``-> dict[str, Any]`` (floats as 0.000027, datetimes ISO 8601,
    NaN as null), without that annotation's validation pass."""

    def render(self, content: Any) -> bytes:
        return _ANY.dump_json(content)


def respond(content: Any, status_code: int = 200) -> ApiJSONResponse:
    """A route's answer as JSON, not re-validated against its model (see the module docstring)."""
    return ApiJSONResponse(content, status_code=status_code)


def _is_json(response: Response) -> bool:
    return hasattr(response, "body") and response.headers.get("content-type", "").startswith("application/json")


class ContractRoute(APIRoute):
    """An :class:`~fastapi.routing.APIRoute` that, with ``strict_responses`` on, checks each JSON
    answer against the route's ``response_model`` (strict types, no extra keys)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        model = self.response_model
        if model is None:
            return handler
        adapter: list[TypeAdapter[Any]] = []  # built on first use: only strict collectors pay for it

        async def checked(request: Request) -> Response:
            response = await handler(request)
            collector = getattr(request.app.state, "collector", None)
            if collector is None or not collector.settings.strict_responses or not _is_json(response):
                return response
            if not adapter:
                adapter.append(TypeAdapter(model))
            try:
                adapter[0].validate_json(bytes(response.body), strict=True)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
                                     for e in exc.errors()[:10])
                message = (f"the answer of {request.method} {request.url.path} does not match its documented model"
                           f" {model.__name__}: {problems}")
                log.error("%s", message)
                return JSONResponse({"error": message, "status": 500}, status_code=500)
            return response

        return checked


def without_422(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema without FastAPI's automatic 422 answers (the app sends 400 instead)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
