"""Evaluators: score one task output against a dataset item (docs/evaluation.md).

An evaluator is a callable taking an :class:`EvalCase` (the item's input, expected output and
metadata, the task's output, and what its traced run did: tool calls, latency, cost, tokens)
and returning an :class:`EvalResult` — the shape of the OpenTelemetry GenAI event
``gen_ai.evaluation.result``: a name, a score, a label and an explanation. A plain callable may
return a bool (pass/fail), a number (the score), a dict with those keys, or an EvalResult.

The built-ins here are pure functions of the case (the LLM judge aside, which calls a model):
``exact``, ``contains``, ``regex``, ``json_valid``, ``json_schema``, ``field_equals``,
``numeric_within``, ``tool_called``, ``tool_not_called``, ``max_cost``, ``max_latency``,
``max_tokens`` and ``llm_judge``. :func:`parse` turns the command line's ``NAME[:ARGUMENT]``
(``regex:^\\d+$``, ``field_equals:{"field": "amount"}``, ``module:function``) into one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

PASS, FAIL, SKIPPED, ERROR = "pass", "fail", "skipped", "error"
_MISSING: Any = object()


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """One evaluator's verdict on one item (OTel GenAI ``gen_ai.evaluation.result``)."""

    name: str
    score: float | None
    label: str = ""
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ToolCallRecord:
    """A tool call the run made: its name, arguments and result (JSON-decoded when they are JSON)."""

    name: str
    arguments: Any = None
    result: Any = None


@dataclasses.dataclass(frozen=True)
class EvalCase:
    """What an evaluator sees: the dataset item, the task's output and its traced run."""

    input: Any
    output: Any
    expected: Any = None
    has_expected: bool = False
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    error: str = ""
    tool_calls: Sequence[ToolCallRecord] = ()
    latency_s: float = 0.0
    cost_usd: float | None = None
    tokens: int | None = None


class Evaluator:
    """A named evaluator: ``Evaluator(name, fn)`` where ``fn(case)`` returns an EvalResult, a
    bool, a number, a dict (score, label, explanation) or None (skipped)."""

    def __init__(self, name: str, fn: Callable[[EvalCase], Any]) -> None:
        self.name = name
        self.fn = fn

    def __call__(self, case: EvalCase) -> EvalResult:
        try:
            value = self.fn(case)
        except Exception as exc:  # noqa: BLE001 - an evaluator's failure is a result, not a crash of the run
            return EvalResult(self.name, None, ERROR, f"{type(exc).__name__}: {exc}")
        return as_result(self.name, value)

    def __repr__(self) -> str:
        return f"Evaluator({self.name!r})"


def as_result(name: str, value: Any) -> EvalResult:
    """Whatever an evaluator returned, as an :class:`EvalResult` named ``name``."""
    if isinstance(value, EvalResult):
        return value if value.name else dataclasses.replace(value, name=name)
    if value is None:
        return EvalResult(name, None, SKIPPED, "")
    if isinstance(value, bool):
        return EvalResult(name, 1.0 if value else 0.0, PASS if value else FAIL, "")
    if isinstance(value, (int, float)):
        score = float(value)
        if math.isnan(score) or math.isinf(score):
            return EvalResult(name, None, ERROR, f"score {value!r} is not a finite number")
        return EvalResult(name, score, "", "")
    if isinstance(value, Mapping):
        given = value.get("score")
        result = as_result(name, given) if given is not None else EvalResult(name, None, SKIPPED)
        return EvalResult(str(value.get("name") or name), result.score, str(value.get("label", result.label) or ""),
                          str(value.get("explanation", "") or ""))
    raise TypeError(f"evaluator {name!r} returned {type(value).__name__}; return an EvalResult, bool, number or dict")


def evaluator(fn: Callable[[EvalCase], Any] | Evaluator, name: str | None = None) -> Evaluator:
    """``fn`` as an :class:`Evaluator` (named ``name``, else its own name)."""
    if isinstance(fn, Evaluator):
        return fn if name is None else Evaluator(name, fn.fn)
    return Evaluator(name or str(getattr(fn, "__name__", "custom")), fn)


def _verdict(name: str, ok: bool, explanation: str) -> EvalResult:
    return EvalResult(name, 1.0 if ok else 0.0, PASS if ok else FAIL, "" if ok else explanation)


def _normal(value: Any) -> Any:
    """A JSON text as its value (so "49.5" and 49.5 compare equal); anything else as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value.strip()
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _short(value: Any, limit: int = 200) -> str:
    text = _text(value)
    return text if len(text) <= limit else text[:limit] + "…"


def field(value: Any, path: str) -> Any:
    """``value``'s field at a dotted ``path`` (``"refund.amount"``, list indexes as numbers);
    ``_MISSING`` when absent. A JSON text is decoded first."""
    current = _normal(value)
    for part in path.split(".") if path else []:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


# -- built-ins ------------------------------------------------------------------------------------
def exact(*, name: str = "exact") -> Evaluator:
    """Pass when the output equals the item's expected output (JSON text compared as its value)."""

    def check(case: EvalCase) -> EvalResult | None:
        if not case.has_expected:
            return None
        ok = _normal(case.output) == _normal(case.expected)
        return _verdict(name, ok, f"expected {_short(case.expected)}, got {_short(case.output)}")

    return Evaluator(name, check)


def contains(text: str | None = None, *, ignore_case: bool = False, name: str = "contains") -> Evaluator:
    """Pass when the output (as text) contains ``text`` (default: the expected output)."""

    def check(case: EvalCase) -> EvalResult | None:
        if text is None and not case.has_expected:
            return None
        needle, haystack = _text(text if text is not None else case.expected), _text(case.output)
        if ignore_case:
            needle, haystack = needle.lower(), haystack.lower()
        return _verdict(name, needle in haystack, f"{_short(needle)!r} not in the output")

    return Evaluator(name, check)


def regex(pattern: str, *, name: str = "regex") -> Evaluator:
    """Pass when the pattern is found in the output (as text)."""
    compiled = re.compile(pattern)
    return Evaluator(name, lambda case: _verdict(name, compiled.search(_text(case.output)) is not None,
                                                 f"/{pattern}/ does not match the output"))


def json_valid(*, name: str = "json_valid") -> Evaluator:
    """Pass when the output is JSON: a dict or list, or a text that parses as JSON."""

    def check(case: EvalCase) -> EvalResult:
        if isinstance(case.output, (dict, list)):
            return _verdict(name, True, "")
        try:
            json.loads(case.output if isinstance(case.output, (str, bytes)) else "")
        except ValueError as exc:
            return _verdict(name, False, f"not JSON: {exc}")
        return _verdict(name, True, "")

    return Evaluator(name, check)


def json_schema(schema: Mapping[str, Any], *, name: str = "json_schema") -> Evaluator:
    """Pass when the output (a JSON text is decoded) validates against a JSON Schema (needs the
    ``jsonschema`` package)."""
    try:
        import jsonschema
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the json_schema evaluator needs the jsonschema package (pip install jsonschema)") from exc
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def check(case: EvalCase) -> EvalResult:
        problems = sorted(validator.iter_errors(_normal(case.output)), key=lambda e: list(e.path))
        return _verdict(name, not problems, "; ".join(
            f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in problems[:3]))

    return Evaluator(name, check)


def field_equals(path: str, value: Any = _MISSING, *, name: str = "field_equals") -> Evaluator:
    """Pass when the output's field at ``path`` equals ``value`` (default: the same field of the
    expected output, or the whole expected output when it has no such field)."""

    def check(case: EvalCase) -> EvalResult | None:
        want = value
        if want is _MISSING:
            if not case.has_expected:
                return None
            want = field(case.expected, path)
            if want is _MISSING:
                want = _normal(case.expected)
        got = field(case.output, path)
        if got is _MISSING:
            return _verdict(name, False, f"the output has no field {path!r}")
        return _verdict(name, _normal(got) == _normal(want), f"{path}: expected {_short(want)}, got {_short(got)}")

    return Evaluator(name, check)


def _number(value: Any) -> float | None:
    value = _normal(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def numeric_within(path: str = "", *, tolerance: float = 0.0, relative: bool = False, target: float | None = None,
                   name: str = "numeric_within") -> Evaluator:
    """Pass when the number at ``path`` of the output ('' = the output itself) is within
    ``tolerance`` (absolute, or a fraction with ``relative``) of ``target`` (default: the same
    field of the expected output, or the expected output itself)."""

    def check(case: EvalCase) -> EvalResult | None:
        if target is not None:
            want: float | None = target
        elif not case.has_expected:
            return None
        else:
            at = field(case.expected, path)
            want = _number(at if at is not _MISSING else case.expected)
        if want is None:
            return EvalResult(name, None, SKIPPED, "the expected value is not a number")
        got_field = field(case.output, path)
        got = None if got_field is _MISSING else _number(got_field)
        if got is None:
            return _verdict(name, False, f"the output{' field ' + repr(path) if path else ''} is not a number")
        allowed = tolerance * abs(want) if relative else tolerance
        return _verdict(name, abs(got - want) <= allowed, f"{path or 'output'}: expected {want:g}"
                        f" ± {allowed:g}, got {got:g}")

    return Evaluator(name, check)


def _matches(given: Any, want: Any) -> bool:
    """``given`` holds ``want``: dicts by subset of keys, numbers by value, the rest equal."""
    if isinstance(want, Mapping):
        return isinstance(given, Mapping) and all(k in given and _matches(given[k], v) for k, v in want.items())
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        number = _number(given)
        return number is not None and math.isclose(number, float(want), rel_tol=1e-9, abs_tol=1e-9)
    return bool(_normal(given) == _normal(want))


def tool_called(tool: str, arguments: Mapping[str, Any] | None = None, *, name: str = "tool_called") -> Evaluator:
    """Pass when the run called ``tool`` (with arguments holding every given key and value)."""

    def check(case: EvalCase) -> EvalResult:
        calls = [c for c in case.tool_calls if c.name == tool]
        if not calls:
            seen = sorted({c.name for c in case.tool_calls})
            return _verdict(name, False, f"{tool} was not called (called: {', '.join(seen) or 'no tool'})")
        if arguments is None:
            return _verdict(name, True, "")
        ok = any(_matches(_normal(c.arguments), dict(arguments)) for c in calls)
        return _verdict(name, ok, f"{tool} was called with {_short([c.arguments for c in calls])},"
                                  f" not with {_short(dict(arguments))}")

    return Evaluator(name, check)


def tool_not_called(tool: str, *, name: str = "tool_not_called") -> Evaluator:
    """Pass when the run did not call ``tool``."""
    return Evaluator(name, lambda case: _verdict(
        name, not any(c.name == tool for c in case.tool_calls),
        f"{tool} was called {sum(1 for c in case.tool_calls if c.name == tool)} times"))


def max_cost(usd: float, *, name: str = "max_cost") -> Evaluator:
    """Pass when the run cost at most ``usd`` (skipped when the run recorded no cost)."""
    return Evaluator(name, lambda case: None if case.cost_usd is None else _verdict(
        name, case.cost_usd <= usd, f"cost {case.cost_usd:.6f} USD > {usd:g}"))


def max_latency(seconds: float, *, name: str = "max_latency") -> Evaluator:
    """Pass when the task took at most ``seconds``."""
    return Evaluator(name, lambda case: _verdict(name, case.latency_s <= seconds,
                                                 f"took {case.latency_s:.3f}s > {seconds:g}s"))


def max_tokens(tokens: int, *, name: str = "max_tokens") -> Evaluator:
    """Pass when the run's LLM calls used at most ``tokens`` (input + output; skipped when none recorded)."""
    return Evaluator(name, lambda case: None if case.tokens is None else _verdict(
        name, case.tokens <= tokens, f"{case.tokens} tokens > {tokens}"))


# -- LLM as judge -----------------------------------------------------------------------------------
JUDGE_PROMPT = """You are grading the answer of an AI agent.
Criteria: {criteria}

Input: {input}
Expected (may be empty): {expected}
Answer: {output}

Reply with only a JSON object: {{"score": <number from 0 to 1>, "label": "pass" or "fail", "explanation": "<one sentence>"}}"""


def parse_judgement(name: str, reply: str) -> EvalResult:
    """A judge model's reply as a result: a JSON object (score, label, explanation), else the
    first number in the text as the score."""
    found = re.search(r"\{.*\}", reply, re.S)
    if found:
        try:
            data = json.loads(found.group(0))
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("score") is not None:
            score = _number(data["score"])
            if score is None:
                return EvalResult(name, None, ERROR, f"the judge's score is not a number: {_short(data['score'])}")
            label = str(data.get("label") or (PASS if score >= 0.5 else FAIL))
            return EvalResult(name, score, label, str(data.get("explanation") or ""))
    number = re.search(r"-?\d+(?:\.\d+)?", reply)
    if number is None:
        return EvalResult(name, None, ERROR, f"the judge gave no score: {_short(reply)}")
    score = float(number.group(0))
    return EvalResult(name, score, PASS if score >= 0.5 else FAIL, _short(reply))


def openai_compatible(model: str, *, base_url: str | None = None, api_key: str | None = None,
                      timeout_s: float = 60.0) -> Callable[[str], str]:
    """A ``complete(prompt) -> text`` calling ``POST {base_url}/chat/completions`` of any
    OpenAI-compatible endpoint (default ``OPENAI_BASE_URL``, else api.openai.com; the key from
    ``OPENAI_API_KEY``)."""
    from . import _http

    url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")

    def complete(prompt: str) -> str:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {"model": model, "temperature": 0, "messages": [{"role": "user", "content": prompt}]}
        resp = _http.send("POST", f"{url}/chat/completions", headers=headers, body=body, timeout=timeout_s)
        if resp.status >= 400:
            raise RuntimeError(f"judge endpoint answered HTTP {resp.status}: {resp.error()}")
        data = resp.json()
        try:
            return str(data["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError) as exc:
            raise RuntimeError(f"judge endpoint answered no choices[0].message.content: {_short(data)}") from exc

    return complete


def llm_judge(criteria: str, *, complete: Callable[[str], str] | None = None, model: str = "gpt-4o-mini",
              base_url: str | None = None, api_key: str | None = None, prompt: str = JUDGE_PROMPT,
              name: str = "judge") -> Evaluator:
    """An LLM grades the output against ``criteria``: through ``complete(prompt) -> reply``
    (any callable), else ``model`` at an OpenAI-compatible endpoint (:func:`openai_compatible`).
    The reply is read by :func:`parse_judgement`."""
    ask = complete or openai_compatible(model, base_url=base_url, api_key=api_key)

    def check(case: EvalCase) -> EvalResult:
        text = prompt.format(criteria=criteria, input=_text(case.input),
                             expected=_text(case.expected) if case.has_expected else "", output=_text(case.output))
        return parse_judgement(name, ask(text))

    return Evaluator(name, check)


# -- by name ----------------------------------------------------------------------------------------
BUILTINS: dict[str, Callable[..., Evaluator]] = {
    "exact": exact, "contains": contains, "regex": regex, "json_valid": json_valid, "json_schema": json_schema,
    "field_equals": field_equals, "numeric_within": numeric_within, "tool_called": tool_called,
    "tool_not_called": tool_not_called, "max_cost": max_cost, "max_latency": max_latency, "max_tokens": max_tokens,
    "judge": llm_judge,
}
_NUMERIC = {"max_cost": float, "max_latency": float, "max_tokens": int}


def _build(head: str, factory: Callable[..., Evaluator], *args: Any, **kwargs: Any) -> Evaluator:
    """A built-in made from its parameters; a bad parameter (a wrong name, a pattern or schema
    that does not compile) is a ValueError saying so."""
    try:
        return factory(*args, **kwargs)
    except ImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - re.error, jsonschema's SchemaError, TypeError: all the user's input
        raise ValueError(f"evaluator {head}: {exc}") from exc


def parse(spec: str) -> Evaluator:
    """An evaluator from its command-line form.

    - ``NAME`` (``exact``, ``json_valid``) or ``NAME:ARGUMENT`` where the argument is the first
      parameter as text (``regex:^\\d+$``, ``tool_called:issue_refund``, ``max_cost:0.05``) or a
      JSON object of parameters (``numeric_within:{"path": "amount", "tolerance": 0.01}``,
      ``judge:{"criteria": "polite", "model": "gpt-4o-mini", "base_url": "http://…/v1"}``);
      ``name`` in the object renames the result;
    - ``module:function``: a callable of yours (a ``module:function`` that is not a built-in
      name), given the :class:`EvalCase`.
    """
    head, sep, argument = spec.partition(":")
    head = head.strip()
    if head in BUILTINS:
        factory = BUILTINS[head]
        if not sep:
            return factory()
        if argument.lstrip().startswith("{"):
            try:
                params = json.loads(argument)
            except ValueError as exc:
                raise ValueError(f"evaluator {spec!r}: parameters are not JSON: {exc}") from exc
            if not isinstance(params, dict):
                raise ValueError(f"evaluator {spec!r}: parameters must be a JSON object")
            return _build(head, factory, **params)
        value: Any = argument
        if head in _NUMERIC:
            try:
                value = _NUMERIC[head](argument)
            except ValueError as exc:
                raise ValueError(f"evaluator {head} takes a number, got {argument!r}") from exc
        return _build(head, factory, value)
    if not sep or not argument:
        raise ValueError(f"unknown evaluator {spec!r}: use one of {', '.join(sorted(BUILTINS))} or module:function")
    try:
        target = getattr(importlib.import_module(head), argument)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"evaluator {spec!r}: cannot import {argument} from {head}: {exc}") from exc
    if not callable(target):
        raise ValueError(f"evaluator {spec!r} is not callable")
    return evaluator(target)
