"""The attribute vocabulary: every span attribute key Flightlog writes, and every key it reads.

One module for both sides of the wire (docs/decisions/0005-one-vocabulary.md). The SDK writes
the constants of the first part; the collector's mapping, pricing and repricing, the UI's
transcript and the demo traces read the same names, so a key is spelled once. The module
imports nothing, so it is usable without the server or UI dependencies
(``from flightlog import semconv``).

Reading order: when several conventions say the same thing the first key in a tuple wins:
flightlog.* > OpenTelemetry GenAI (gen_ai.*) > OpenInference > OpenLLMetry (Traceloop) >
Langfuse (docs/ingest-rules.md).
"""

from __future__ import annotations

# === written by the SDK =======================================================================
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
CHECKPOINT_TOOL = "flightlog.checkpoint.tool"
CHECKPOINT_TIER_REASONS = "flightlog.checkpoint.tier_reasons"
# The approval behind a tier-3 checkpoint (docs/control.md)
APPROVAL_ID = "flightlog.approval.id"
APPROVAL_DECIDED_AT = "flightlog.approval.decided_at"
APPROVAL_ARGUMENTS_HASH = "flightlog.approval.arguments_hash"
APPROVAL_EDITED = "flightlog.approval.edited"

# Central control: the policy in force on every span of a run, and a refused step
POLICY_ID = "flightlog.policy.id"
POLICY_VERSION = "flightlog.policy.version"
CONTROL_REFUSED = "flightlog.control.refused"

# Provenance: the latest LLM call of the enclosing run, on every non-LLM step inside it (the call
# whose answer led to the step), and on the run itself when it ends (the call behind its output).
DECIDED_BY_MODEL = "flightlog.decided_by.model"
DECIDED_BY_PROMPT_ID = "flightlog.decided_by.prompt.id"
DECIDED_BY_PROMPT_VERSION = "flightlog.decided_by.prompt.version"
DECIDED_BY_PROMPT_HASH = "flightlog.decided_by.prompt.hash"
DECIDED_BY_SPAN_ID = "flightlog.decided_by.span_id"
RUN_MODELS = "flightlog.run.models"
# A run's own usage totals, on its root span when it ends (its LLM children carry the usage
# that is counted; these are for reading a run at a glance).
RUN_INPUT_TOKENS = "flightlog.run.input_tokens"
RUN_OUTPUT_TOKENS = "flightlog.run.output_tokens"
RUN_COST_USD = "flightlog.run.cost_usd"
RUN_LLM_CALLS = "flightlog.run.llm_calls"
RUN_TOOL_CALLS = "flightlog.run.tool_calls"

# Links: why an agent run links to another trace's span (``agent_run(link=...)``)
LINK_TYPE = "flightlog.link.type"

# Limits
LIMIT_VIOLATION = "flightlog.limit.violation"
LIMIT_KIND = "flightlog.limit.kind"

# Evaluation: the experiment and dataset item an agent run was made for (flightlog.evaluate)
EXPERIMENT_ID = "flightlog.experiment.id"
DATASET_NAME = "flightlog.dataset.name"
DATASET_ITEM_ID = "flightlog.dataset.item_id"

#: Every key the SDK writes (a test checks each against the spans the SDK really emits).
SDK_KEYS = frozenset(value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str))

# === read by the collector ====================================================================
# Set by the collector itself at ingest.
REDACTIONS = "flightlog.redactions"
INGEST_FIXUPS = "flightlog.ingest.fixups"
#: On a span whose token counts add up its children's calls, so they were not counted again
#: (docs/ingest-rules.md, "Usage is counted once"): the counts set aside, "input=N,output=M".
USAGE_AGGREGATE = "flightlog.usage.aggregate"
SERVICE_NAME = "service.name"
SERVICE_VERSION = "service.version"

# Span type: the convention keys that classify a span, in precedence order after SPAN_TYPE.
OPENINFERENCE_KIND = "openinference.span.kind"
TRACELOOP_KIND = "traceloop.span.kind"
LANGFUSE_TYPE = "langfuse.observation.type"
LLM_REQUEST_TYPE = "llm.request.type"

# Candidate keys per column, in precedence order.
READ_OPERATION = ("flightlog.operation", OPERATION, LLM_REQUEST_TYPE)
READ_AGENT_NAME = ("flightlog.agent.name", AGENT_NAME, "agent.name")
READ_AGENT_NAME_RESOURCE = ("flightlog.agent.name", AGENT_NAME)
#: The agent's name on an agent span when no *.agent.name key says it: OpenInference graph node
#: (OpenAI Agents SDK, CrewAI, AutoGen, …). Only read on spans of type agent (on other spans a
#: graph node is a step, e.g. LangGraph's ``model`` node).
OPENINFERENCE_GRAPH_NODE = "graph.node.id"
READ_AGENT_VERSION = ("flightlog.agent.version", AGENT_VERSION, "agent.version")
READ_AGENT_VERSION_RESOURCE = ("flightlog.agent.version", AGENT_VERSION, SERVICE_VERSION)
READ_PROVIDER = ("flightlog.provider", PROVIDER, "gen_ai.system", "llm.provider", "llm.system", "llm.vendor")
#: LiteLLM's "<provider>/<model>": the provider when no provider key says it (its embeddings).
LITELLM_PROVIDER_MODEL = "litellm.provider.model"
READ_REQUEST_MODEL = ("flightlog.request.model", REQUEST_MODEL, "llm.model_name", "embedding.model_name",
                      "llm.request.model", "langfuse.observation.model.name")
READ_RESPONSE_MODEL = ("flightlog.response.model", RESPONSE_MODEL, "llm.model_name", "embedding.model_name",
                       "llm.response.model", "langfuse.observation.model.name")
READ_INPUT_TOKENS = ("flightlog.usage.input_tokens", INPUT_TOKENS, "gen_ai.usage.prompt_tokens",
                     "llm.token_count.prompt", "llm.usage.prompt_tokens")
READ_OUTPUT_TOKENS = ("flightlog.usage.output_tokens", OUTPUT_TOKENS, "gen_ai.usage.completion_tokens",
                      "llm.token_count.completion", "llm.usage.completion_tokens")
READ_CACHE_READ_TOKENS = (CACHE_READ_TOKENS, "gen_ai.usage.cache_read_input_tokens",
                          "llm.token_count.prompt_details.cache_read", "llm.usage.cache_read_input_tokens")
#: Cache writes: the current GenAI name first, then the earlier ``cache_creation`` spellings.
CACHE_WRITE_TOKENS = "gen_ai.usage.cache_write.input_tokens"
READ_CACHE_WRITE_TOKENS = (CACHE_WRITE_TOKENS, CACHE_CREATION_TOKENS, "gen_ai.usage.cache_creation_input_tokens",
                           "llm.token_count.prompt_details.cache_write", "llm.usage.cache_creation_input_tokens")
READ_REASONING_TOKENS = (REASONING_TOKENS, "gen_ai.usage.reasoning_tokens",
                         "gen_ai.usage.output_tokens_details.reasoning_tokens",
                         "gen_ai.usage.details.reasoning_tokens",
                         "llm.token_count.completion_details.reasoning", "llm.usage.reasoning_tokens")
#: Aggregates over a run's children (Pydantic AI's invoke_agent spans): never counted, kept raw.
AGGREGATED_USAGE_PREFIX = "gen_ai.aggregated_usage."
LANGFUSE_USAGE = "langfuse.observation.usage_details"
LANGFUSE_COST = "langfuse.observation.cost_details"
#: Keys inside Langfuse's ``usage_details`` object (whatever the caller passed: Langfuse's own
#: names, OpenAI's usage object as the drop-in passes it, Anthropic-style names), per count;
#: dotted keys are paths into nested objects. Not attribute keys, hence a mapping.
LANGFUSE_USAGE_KEYS = {
    "input": ("input", "prompt_tokens", "input_tokens"),
    "output": ("output", "completion_tokens", "output_tokens"),
    "cache_read": ("input_cached_tokens", "cache_read_input_tokens", "input_cache_read",
                   "prompt_tokens_details.cached_tokens", "input_tokens_details.cached_tokens"),
    "reasoning": ("output_reasoning_tokens", "output_reasoning",
                  "completion_tokens_details.reasoning_tokens", "output_tokens_details.reasoning_tokens"),
}
GEN_AI_PROMPT_NAME = "gen_ai.prompt.name"
GEN_AI_PROMPT_VERSION = "gen_ai.prompt.version"
#: Prompt template variables of the GenAI conventions (gen_ai.prompt.variable.<name>): kept raw.
GEN_AI_PROMPT_VARIABLE_PREFIX = "gen_ai.prompt.variable."
READ_PROMPT_ID = (PROMPT_ID, GEN_AI_PROMPT_NAME, "langfuse.observation.prompt.name", "traceloop.prompt.key")
READ_PROMPT_VERSION = (PROMPT_VERSION, GEN_AI_PROMPT_VERSION, "llm.prompt_template.version",
                       "langfuse.observation.prompt.version", "traceloop.prompt.version")
READ_PROMPT_HASH = (PROMPT_HASH, "traceloop.prompt.version_hash")
#: User: flightlog, OTel (user.id, enduser.id), Langfuse, OpenLLMetry association properties,
#: LiteLLM's ``user=`` (llm.user).
READ_USER = ("flightlog.user.id", USER_ID, "enduser.id", "langfuse.user.id",
             "traceloop.association.properties.user_id", "llm.user")
READ_USER_RESOURCE = (USER_ID, "enduser.id")
READ_SESSION = ("flightlog.session.id", SESSION_ID, "session.id", "langfuse.session.id",
                "traceloop.association.properties.session_id")
#: Bare baggage entries a span processor copied onto the span (Logfire's ``set_baggage``), read
#: last: the names are too common to be attribute keys of the vocabulary, hence a mapping.
BAGGAGE_KEYS = {"user": ("user_id",), "session": ("session_id",)}
#: A value Logfire's scrubbing put in place of the real one: not a user or session id.
SCRUBBED_PREFIX = "[Scrubbed due to "
#: LangChain's run metadata (a JSON object OpenInference records as ``metadata``): user, session
#: and the agent name of LangGraph's prebuilt agents; a chain with LangGraph's integration mark
#: and no node is the graph run itself. Keys inside the object, hence a mapping.
OPENINFERENCE_METADATA = "metadata"
LANGCHAIN_METADATA_KEYS = {
    "user": ("user_id", "user"),
    "session": ("session_id", "conversation_id", "thread_id"),
    "agent_name": ("lc_agent_name",),
    "integration": ("ls_integration",),
    "node": ("langgraph_node",),
}
LANGGRAPH_INTEGRATION = "langgraph"
#: Client cost, in precedence order: flightlog, GenAI, LiteLLM's own total, Pydantic AI/Logfire.
READ_COST = (COST_USD, "gen_ai.usage.cost", "gen_ai.cost.total_cost", "operation.cost")
OPENLLMETRY_COST = "llm.usage.cost"
READ_FINISH_REASON = (FINISH_REASONS, "llm.finish_reason", "llm.response.finish_reason",
                      "gen_ai.completion.0.finish_reason", "langfuse.observation.metadata.finish_reason")
READ_TOOL_NAME = ("flightlog.tool.name", TOOL_NAME, "tool.name")
READ_TOOL_CALL_ID = ("flightlog.tool.call.id", TOOL_CALL_ID, "tool_call.id",
                     "langfuse.observation.metadata.tool_call_id")
READ_TOOL_ARGUMENTS = ("flightlog.tool.args", TOOL_ARGUMENTS)
READ_TOOL_RESULT = ("flightlog.tool.result", TOOL_RESULT)
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_INPUT = "traceloop.entity.input"
TRACELOOP_OUTPUT = "traceloop.entity.output"
OPENINFERENCE_INPUT = "input.value"
OPENINFERENCE_OUTPUT = "output.value"
LANGFUSE_INPUT = "langfuse.observation.input"
LANGFUSE_OUTPUT = "langfuse.observation.output"
LANGFUSE_LEVEL = "langfuse.observation.level"
LANGFUSE_STATUS_MESSAGE = "langfuse.observation.status_message"
EXCEPTION_TYPE = "exception.type"

# Streaming: a flag (bool, or a "True"/"true" string) and the time to the first chunk.
READ_STREAM = (REQUEST_STREAM, "gen_ai.is_streaming", "llm.is_streaming")
#: Seconds from the request to the first chunk (the SDK's key, then the GenAI client metric's name
#: as Pydantic AI writes it on the span).
READ_TIME_TO_FIRST_CHUNK_S = (TIME_TO_FIRST_CHUNK, "gen_ai.client.operation.time_to_first_chunk")
#: Langfuse: when the first token came (an ISO 8601 timestamp, JSON-quoted).
LANGFUSE_COMPLETION_START = "langfuse.observation.completion_start_time"
#: OpenInference: request parameters as JSON (``"stream": true``).
OPENINFERENCE_INVOCATION_PARAMETERS = "llm.invocation_parameters"
INVOCATION_STREAM = "stream"
#: Span events that mark a streamed response; the first one's time is the first chunk.
EVENT_FIRST_TOKEN = "First Token Stream Event"  # OpenInference
EVENT_COMPLETION_CHUNK = "gen_ai.content.completion.chunk"  # OpenLLMetry
#: LangChain's serialised output of a streamed generation (OpenInference output.value).
LANGCHAIN_STREAM_CHUNK = "ChatGenerationChunk"

#: GenAI client metrics: which count a gen_ai.client.token.usage point is (input, output).
METRIC_TOKEN_TYPE = "gen_ai.token.type"

# Guardrails (GenAI apply_guardrail spans): the guard's name, its decision and why.
GUARDRAIL_NAME = "gen_ai.guardrail.name"
READ_GUARDRAIL_DECISION = ("gen_ai.guardrail.decision", "gen_ai.guardrail.action", "gen_ai.guardrail.result")
READ_GUARDRAIL_REASON = ("gen_ai.guardrail.reason", "gen_ai.guardrail.violation")
#: Tool definitions offered to the model (GenAI JSON list): kept raw, shown with the span.
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
# Evaluation results (GenAI event gen_ai.evaluation.result, on a span or as a log record).
EVENT_EVALUATION_RESULT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE = "gen_ai.evaluation.score.value"
EVALUATION_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"

# Spans that are a step of an instrumented framework, not a call (LlamaIndex private methods,
# ``Class._method``), and framework run spans that name their agent.
LLAMA_INDEX_SCOPE = "openinference.instrumentation.llama_index"
OPENAI_AGENTS_SCOPE = "openinference.instrumentation.openai_agents"
#: LlamaIndex's workflow agents record the running agent as ``current_agent_name='…'`` in reprs.
LLAMA_INDEX_AGENT_MARK = "current_agent_name="

SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
# Message content in the older GenAI conventions (indexed: gen_ai.prompt.0.role, …).
LEGACY_PROMPT = "gen_ai.prompt"
LEGACY_COMPLETION = "gen_ai.completion"
# Flattened OpenInference lists (llm.input_messages.0.message.role, …): their prefixes.
OPENINFERENCE_INPUT_MESSAGES = "llm.input_messages"
OPENINFERENCE_OUTPUT_MESSAGES = "llm.output_messages"
OPENINFERENCE_EMBEDDINGS = "embedding.embeddings"
OPENINFERENCE_DOCUMENTS = "retrieval.documents"

# Event names (span events and OTLP log records) that carry GenAI content.
EVENT_INFERENCE_DETAILS = "gen_ai.client.inference.operation.details"
EVENT_MESSAGE_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
EVENT_CHOICE = "gen_ai.choice"
EVENT_LEGACY_PROMPT = "gen_ai.content.prompt"
EVENT_LEGACY_COMPLETION = "gen_ai.content.completion"
#: Some SDKs JSON-encode a log event's body under this attribute.
EVENT_CONTENT = "gen_ai.event.content"
#: Retrieval keys of earlier flightlog SDKs, still read.
LEGACY_RETRIEVAL_QUERY = "flightlog.retrieval.query"
LEGACY_RETRIEVAL_DOCUMENTS = "flightlog.retrieval.documents"

_RAW = "kept in SpanAttributes and shown with the span's attributes; no column needs it"
#: Keys the SDK writes that no column holds, and why. The server keeps every attribute in
#: SpanAttributes, so these stay visible on the trace page and in exports; a test checks that
#: each SDK key is either read into a column (a ``READ_*`` tuple or a key the mapping reads
#: directly) or listed here.
KEPT_IN_ATTRIBUTES = {
    EXPERIMENT_ID: "an evaluation run's experiment: the experiment's results name the trace, the attribute is for search",
    DATASET_NAME: "an evaluation run's dataset: kept raw for search; the experiment names it",
    DATASET_ITEM_ID: "an evaluation run's dataset item: kept raw for search; the experiment's results name it",
    PROJECT: "the project comes from the ingest key, never from a span",
    REDACTED: "the SDK's own redaction mark; the collector adds its counts as flightlog.redactions",
    RESPONSE_ID: _RAW,
    REQUEST_TEMPERATURE: _RAW,
    REQUEST_MAX_TOKENS: _RAW,
    PROMPT_TEMPLATE: _RAW,
    PROMPT_VARIABLES: _RAW,
    TOOL_TYPE: _RAW,
    DATA_SOURCE: _RAW,
    TOP_K: _RAW,
    RETRIEVAL_DOCUMENT_COUNT: _RAW,
    HANDOFF_FROM: _RAW,
    HANDOFF_TO: _RAW,
    HANDOFF_REASON: _RAW,
    CHECKPOINT_ACTION: "read from SpanAttributes by the checkpoint audit view",
    CHECKPOINT_CONFIDENCE: _RAW,
    CHECKPOINT_REASON: _RAW,
    CHECKPOINT_WAIT_MS: "read from SpanAttributes by the checkpoint audit view",
    DECIDED_BY_MODEL: "read from SpanAttributes by the trace page's 'decided by' field",
    DECIDED_BY_PROMPT_ID: "read from SpanAttributes by the trace page's 'decided by' field",
    DECIDED_BY_PROMPT_VERSION: "read from SpanAttributes by the trace page's 'decided by' field",
    DECIDED_BY_PROMPT_HASH: _RAW,
    DECIDED_BY_SPAN_ID: "read from SpanAttributes by the trace page's 'decided by' field",
    RUN_MODELS: _RAW,
    RUN_INPUT_TOKENS: "a run's totals; usage is counted once, from its LLM calls",
    RUN_OUTPUT_TOKENS: "a run's totals; usage is counted once, from its LLM calls",
    RUN_COST_USD: "a run's totals; cost is counted once, from its LLM calls",
    RUN_LLM_CALLS: _RAW,
    RUN_TOOL_CALLS: _RAW,
    LINK_TYPE: "shown with the link on the trace-back page",
    LIMIT_KIND: _RAW,
    CHECKPOINT_TOOL: "read from SpanAttributes by the approvals inbox and the checkpoint audit view",
    CHECKPOINT_TIER_REASONS: _RAW,
    APPROVAL_ID: "read from SpanAttributes by the checkpoint audit view (links a checkpoint to its approval)",
    APPROVAL_DECIDED_AT: _RAW,
    APPROVAL_ARGUMENTS_HASH: _RAW,
    APPROVAL_EDITED: _RAW,
    POLICY_ID: _RAW,
    POLICY_VERSION: _RAW,
    CONTROL_REFUSED: _RAW,
}

# === written by the collector's control loop (event spans in the audit chain) ===================
CONTROL_EVENT = "flightlog.control.event"
#: The span type (``SpanType``) of those event spans: records of the control loop, not the run's work.
CONTROL_SPAN_TYPE = "control"
CONTROL_SCOPE = "flightlog.control.scope"
CONTROL_REASON = "flightlog.control.reason"
CONTROL_ACTOR = "flightlog.control.actor"
APPROVAL_STATUS = "flightlog.approval.status"
POLICY_SHA256 = "flightlog.policy.sha256"
