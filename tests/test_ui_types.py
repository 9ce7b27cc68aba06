"""The UI's TypedDicts (ui/types.py) mirror the API's response models (collector/api/models.py)
field by field: same names, same keys, same required keys, same types. The UI may not import
the collector, so the shapes are written twice; this test is what keeps them one."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

from flightlog.collector.api import models
from flightlog.collector.contract import ApiModel
from flightlog.ui import client as ui_client
from flightlog.ui import types as ui_types

MODELS = {name: cls for name, cls in vars(models).items()
          if inspect.isclass(cls) and issubclass(cls, ApiModel) and cls is not ApiModel}
TYPED = {name: getattr(ui_types, name) for name in ui_types.__all__}


def _shape(annotation: Any) -> str:
    """A type as comparable text: nested models and TypedDicts by name, unions order-free."""
    if annotation is Any:
        return "Any"
    if annotation is type(None):
        return "None"
    if inspect.isclass(annotation) and (issubclass(annotation, ApiModel) or typing.is_typeddict(annotation)):
        return annotation.__name__
    if annotation in (str, int, float, bool):
        return annotation.__name__
    origin = get_origin(annotation)
    if origin is Literal:
        return "Literal[" + ", ".join(sorted(repr(a) for a in get_args(annotation))) + "]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(sorted(_shape(a) for a in get_args(annotation)))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_shape(a) for a in get_args(annotation))}]"
    if origin in (typing.NotRequired, typing.Required):
        return _shape(get_args(annotation)[0])
    raise AssertionError(f"no comparable form for {annotation!r}")


def _model_fields(model: type[ApiModel]) -> dict[str, tuple[str, bool]]:
    return {name: (_shape(f.annotation), f.is_required()) for name, f in model.model_fields.items()}


def _typed_fields(typed: Any) -> dict[str, tuple[str, bool]]:
    hints = get_type_hints(typed, include_extras=True)
    return {name: (_shape(hint), name in typed.__required_keys__) for name, hint in hints.items()}


def test_every_model_has_a_typeddict_and_no_typeddict_is_stale() -> None:
    assert sorted(MODELS) == sorted(TYPED), (
        f"models without a TypedDict in ui/types.py: {sorted(set(MODELS) - set(TYPED))}; "
        f"TypedDicts without a model: {sorted(set(TYPED) - set(MODELS))}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_typeddict_matches_its_model(name: str) -> None:
    model, typed = _model_fields(MODELS[name]), _typed_fields(TYPED[name])
    assert typed == model, "\n".join(
        f"{key}: model {model.get(key, 'absent')} vs ui/types.py {typed.get(key, 'absent')}"
        for key in sorted(set(model) | set(typed)) if model.get(key) != typed.get(key))


def test_client_methods_return_answer_types() -> None:
    """No public method of the client returns an untyped dict."""
    untyped = []
    for name, method in inspect.getmembers(ui_client.ApiClient, inspect.isfunction):
        if name.startswith("_"):
            continue
        returned = get_type_hints(method, vars(ui_client)).get("return")
        if returned is None or "dict[str, typing.Any]" in str(returned) or returned is dict:
            untyped.append(name)
    assert not untyped, untyped
