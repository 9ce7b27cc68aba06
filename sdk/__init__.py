"""flightlog: the flight recorder for AI agents.

Record every agent run, LLM call, tool call, retrieval, handoff and human checkpoint as
OpenTelemetry spans, exported over OTLP to a flightlog collector (or any OTLP backend)::

    import flightlog

    flightlog.init(agent_name="support-bot", project="acme")

    with flightlog.agent_run(user_id="u1", input=question) as run:
        with flightlog.llm_call("gpt-4o", provider="openai", messages=question) as call:
            call.set_output(answer)
            call.set_usage(input_tokens=12, output_tokens=40)
        run.set_output(answer)

This module is the whole public API; everything in ``flightlog._*`` may change.
"""

from ._budget import Limits
from ._checkpoint import Approval, CheckpointRequest, Decision, acheckpoint, checkpoint
from ._config import Config
from ._evaluate import EvalReport, EvaluationError, evaluate
from ._exceptions import AgentPaused, BudgetExceeded, ConfigurationError, FlightlogError, PolicyDenied
from ._handoff import Handoff, handoff
from ._inbox import Inbox, inbox
from ._llm import LLMCall, llm_call
from ._propagation import bind_context, extract, inject, start_thread
from ._retrieval import Retrieval, retrieval
from ._run import AgentRun, agent_run, current_run
from ._setup import __version__, exporter_stats, flush, init, shutdown
from ._spans import current_span
from ._tool import ToolCall, tool_call

__all__ = [
    "AgentPaused",
    "AgentRun",
    "Approval",
    "BudgetExceeded",
    "CheckpointRequest",
    "Config",
    "ConfigurationError",
    "Decision",
    "EvalReport",
    "EvaluationError",
    "FlightlogError",
    "Handoff",
    "Inbox",
    "LLMCall",
    "Limits",
    "PolicyDenied",
    "Retrieval",
    "ToolCall",
    "__version__",
    "acheckpoint",
    "agent_run",
    "bind_context",
    "checkpoint",
    "current_run",
    "current_span",
    "evaluate",
    "exporter_stats",
    "extract",
    "flush",
    "handoff",
    "inbox",
    "init",
    "inject",
    "llm_call",
    "retrieval",
    "shutdown",
    "start_thread",
    "tool_call",
]

# Public names claim the package, so reprs and tracebacks say ``flightlog.X`` (httpx's habit).
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        try:
            _obj.__module__ = "flightlog"
        except (AttributeError, TypeError):  # pragma: no cover - builtins cannot be renamed
            pass
del _name, _obj
