"""Compatibility shim: the step machinery now lives in one private module per concern.

``_spans`` (the ``_Step`` base: lifecycle, content helpers, ``current_span``), ``_decorate``
(sync/async/generator decorators), ``_run`` (agent runs), ``_llm`` (LLM calls), ``_tool``
(tool calls), ``_retrieval`` (retrievals) and ``_handoff`` (handoffs). Import the public
names from ``flightlog``.
"""

from __future__ import annotations

from ._decorate import bound_arguments as _bound_arguments
from ._handoff import Handoff, handoff
from ._llm import LLMCall, llm_call
from ._retrieval import Retrieval, retrieval
from ._run import AgentRun, agent_run, current_run
from ._spans import _NoStep, _record_exception, _Step, current_span
from ._tool import ToolCall, tool_call

__all__ = [
    "AgentRun", "Handoff", "LLMCall", "Retrieval", "ToolCall", "_NoStep", "_Step", "_bound_arguments",
    "_record_exception", "agent_run", "current_run", "current_span", "handoff", "llm_call", "retrieval",
    "tool_call",
]
