"""Span attribute keys written by the SDK (the collector's mapping reads exactly these)."""

from __future__ import annotations

from opentelemetry import context as otel_context

# Every span
SPAN_TYPE = "flightlog.span.type"
OPERATION = "gen_ai.operation.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_VERSION = "gen_ai.agent.version"
USER_ID = "user.id"
SESSION_ID = "gen_ai.conversation.id"
PROJECT = "flightlog.project"
ERROR_TYPE = "error.type"
REDACTED = "flightlog.redacted"

# Agent run
INPUT = "flightlog.input"
OUTPUT = "flightlog.output"

# LLM call
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
REQUEST_STREAM = "gen_ai.request.stream"
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
PROMPT_ID = "flightlog.prompt.id"
PROMPT_VERSION = "flightlog.prompt.version"
PROMPT_HASH = "flightlog.prompt.hash"
PROMPT_TEMPLATE = "flightlog.prompt.template"
PROMPT_VARIABLES = "flightlog.prompt.variables"
COST_USD = "flightlog.cost.usd"

# Tool call
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
TOOL_TYPE = "gen_ai.tool.type"

# Retrieval
RETRIEVAL_QUERY = "gen_ai.retrieval.query.text"
RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"
RETRIEVAL_DOCUMENT_COUNT = "flightlog.retrieval.document_count"
DATA_SOURCE = "gen_ai.data_source.id"
TOP_K = "gen_ai.retrieval.top_k"

# Handoff
HANDOFF_FROM = "flightlog.handoff.from_agent"
HANDOFF_TO = "flightlog.handoff.to_agent"
HANDOFF_REASON = "flightlog.handoff.reason"

# Checkpoint
CHECKPOINT_ACTION = "flightlog.checkpoint.action"
CHECKPOINT_TIER = "flightlog.checkpoint.tier"
CHECKPOINT_CONFIDENCE = "flightlog.checkpoint.confidence"
CHECKPOINT_DECISION = "flightlog.checkpoint.decision"
CHECKPOINT_APPROVER = "flightlog.checkpoint.approver"
CHECKPOINT_REASON = "flightlog.checkpoint.reason"
CHECKPOINT_WAIT_MS = "flightlog.checkpoint.wait_ms"

# Provenance: the latest LLM call of the enclosing run, on every non-LLM step inside it (the call
# whose answer led to the step), and on the run itself when it ends (the call behind its output).
DECIDED_BY_MODEL = "flightlog.decided_by.model"
DECIDED_BY_PROMPT_ID = "flightlog.decided_by.prompt.id"
DECIDED_BY_PROMPT_VERSION = "flightlog.decided_by.prompt.version"
DECIDED_BY_PROMPT_HASH = "flightlog.decided_by.prompt.hash"
DECIDED_BY_SPAN_ID = "flightlog.decided_by.span_id"
RUN_MODELS = "flightlog.run.models"

# Links: why an agent run links to another trace's span (``agent_run(link=...)``)
LINK_TYPE = "flightlog.link.type"

# Limits
LIMIT_VIOLATION = "flightlog.limit.violation"
LIMIT_KIND = "flightlog.limit.kind"

# Keys of flightlog values carried in the OpenTelemetry context.
RUN_CONTEXT_KEY = otel_context.create_key("flightlog.run")
STEP_CONTEXT_KEY = otel_context.create_key("flightlog.step")
