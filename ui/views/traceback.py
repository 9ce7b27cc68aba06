"""Trace-back page: from one span (e.g. the tool call that did the damage), the causal chain
to the root, every input that fed it in time order, and a comparison with other runs of the
same agent step (``GET /api/traces/{trace_id}/traceback``); exports as Markdown and JSON.

URL: ``/traceback?trace_id=<32 hex>&span_id=<16 hex>&compare=10&all_runs=1``. Without ids
the page starts from the span last selected on the Trace page.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from flightlog.ui import incident
from flightlog.ui import format as fmt
from flightlog.ui import datasetform, session
from flightlog.ui.client import ApiError
from flightlog.ui.filters import parse_trace_id
from flightlog.ui.texttable import text_table

COMPARE_CHOICES = (5, 10, 20, 50)
DEFAULT_COMPARE = 10
_HIGHLIGHT = "background-color: #fde2e1; color: #8a1c13; font-weight: 600"
_LINK = st.column_config.LinkColumn("trace", display_text="open ↗")


def _ask(problem: str = "") -> None:
    if problem:
        st.warning(problem, icon=":material/warning:")
    else:
        st.info(
            "Pick a span first: open a trace and select the span to trace back from (for example "
            "the tool call that did the damage), then use *Trace back from this span*.",
            icon=":material/manage_search:",
        )
    st.page_link(session.TRACE_PAGE, label="Go to Trace", icon=":material/account_tree:")


def _pick_span(trace_id: str) -> None:
    """A trace without a span: choose the one to trace back from, failed spans and tool calls
    first (what usually did the damage), then the rest in start order."""
    trace = session.cached_or_explained(
        "get_trace", trace_id, spinner="Loading the trace…", failed="The trace could not be loaded.",
        missing=lambda: _ask("No such trace in this project (it may not be written yet)."))
    if trace is None:
        return
    spans = sorted(trace.spans, key=lambda s: (not fmt.is_error(s), s.get("span_type") != "tool"))
    # Span names come from the agent: a selectbox shows its options as text, never markdown.
    labels = {f"{s['span_name']} · {s['span_type']} · {fmt.span_status(s)} ({s['span_id']})": str(s["span_id"])
              for s in spans}
    st.info("Choose the span to trace back from: failed spans and tool calls come first.",
            icon=":material/manage_search:")
    choice = st.selectbox("Span", list(labels), key=f"traceback.pick.{trace_id}")
    if st.button("Trace back from this span", icon=":material/manage_search:", key="traceback.pick.go"):
        st.query_params.from_dict({"trace_id": trace_id, "span_id": labels[str(choice)]})
        st.rerun()


def _ids() -> tuple[str, str]:
    trace_id = st.query_params.get("trace_id", "") or session.remembered_trace_id()
    span_id = st.query_params.get("span_id", "")
    if not span_id and trace_id:
        span_id = session.selected_span(parse_trace_id(trace_id), "")
    return trace_id, str(span_id or "").strip().lower()


def _text(label: str, text: str) -> None:
    if text:
        st.caption(label)
        preview, cut = fmt.truncate(text)
        st.code(preview, language=None, wrap_lines=True)
        if cut:
            st.caption(f"cut at {fmt.TEXT_PREVIEW_CHARS:,} characters; the Trace page shows it all")


def _step_detail(step: dict[str, Any]) -> None:
    props = incident.step_properties(step)
    st.dataframe(pd.DataFrame(props, columns=["field", "value"]), hide_index=True, width="stretch",
                 height=fmt.table_height(len(props), most=30))
    _text("Tool arguments", str(step.get("tool_args") or ""))
    _text("Input", str(step.get("input_text") or "") if step.get("role") != "user input" else "")
    _text("Fed forward", incident.step_content(step))


def _comparison(back: dict[str, Any]) -> None:
    st.subheader("Compared with other runs of this step")
    step = (back.get("comparison") or {}).get("step") or {}
    runs = (back.get("comparison") or {}).get("runs") or []
    st.caption(
        f"Other runs of the same step (same agent, span name and tool): {len(runs)} found. "
        f"Cells marked {incident.CHANGE_MARK} and highlighted differ from this run."
    )
    if not runs:
        st.info("No other run of this step was found. Try *Include failed runs*.", icon=":material/info:")
    ranked = incident.ranked_differences(back)
    if ranked:
        st.markdown("**What differed, most unusual first**")
        st.caption("A value far outside the other runs' range comes first, then values no other run had.")
        text_table(ranked, ["field", "this run", "other runs", "why"], key="traceback-differences",
                   widths=[1.2, 1.5, 2.5, 2.5])
    elif runs:
        st.success("The other runs used the same agent version, models, prompts and input.", icon=":material/check:")
    rows = incident.comparison_rows(back)
    table = pd.DataFrame(rows)
    marks = incident.differing_cells(rows)
    styled = table.style.apply(
        lambda frame: pd.DataFrame(
            [[_HIGHLIGHT if m else "" for m in row] for row in marks], index=frame.index, columns=frame.columns
        ),
        axis=None,
    )
    st.dataframe(styled, hide_index=True, width="stretch", column_config={"trace": _LINK}, key="traceback.compare",
                 height=fmt.table_height(len(rows)))
    if step:
        st.text("Step: " + " · ".join(f"{k.replace('_', ' ')}={v}" for k, v in step.items() if v))


def _found(back: dict[str, Any]) -> dict[str, Any] | None:
    """The evidence for the report, or None when the trace cannot be read (the page says why)."""
    try:
        return incident.evidence(back, session.trace_spans(str(back.get("trace_id") or "")))
    except ApiError:
        return None


def _evidence(back: dict[str, Any]) -> None:
    """Who decided the step, which checkpoint let it through in its own words, what it did;
    and how the deciding call's prompt text changed from the version the other runs used."""
    try:
        spans = session.trace_spans(str(back.get("trace_id") or ""))
    except ApiError as exc:
        session.show_api_error("The trace's spans could not be loaded for the evidence.", exc)
        return
    found = incident.evidence(back, spans)
    st.subheader("Why it went through")
    rows = incident.evidence_rows(found)
    if found.get("checkpoint") and found.get("said"):
        said, did = st.columns(2)
        said.caption("The checkpoint said")
        said.code(found["said"], language=None, wrap_lines=True)
        did.caption("The step did")
        did.code(found["did"] or "(nothing recorded)", language=None, wrap_lines=True)
    if rows:
        text_table(rows, ["what", "span", "details", "its words"], key="traceback-evidence", widths=[1.2, 1.3, 1.8, 3])
    else:
        st.info("The trace names no deciding call or checkpoint for this step.", icon=":material/info:")
    decider = found.get("decided_by")
    if decider:
        if st.button("Open the LLM call that decided this", icon=":material/smart_toy:", key="traceback.decider"):
            session.open_trace(str(back.get("trace_id") or ""), str(decider.get("span_id") or ""))
        _prompt_change(back, decider)


def _prompt_change(back: dict[str, Any], decider: dict[str, Any]) -> None:
    """The deciding call's prompt text against the same prompt in another run on another version."""
    prompt_id, version = str(decider.get("prompt_id") or ""), str(decider.get("prompt_version") or "")
    if not prompt_id:
        return
    for run in (back.get("comparison") or {}).get("runs") or []:
        used = [p for p in (run.get("profile") or {}).get("prompts") or [] if p.startswith(prompt_id + "@")]
        if not used or used[0] == f"{prompt_id}@{version}":
            continue
        try:
            other_spans = session.trace_spans(str(run.get("trace_id") or ""))
        except ApiError:
            return
        other = next((s for s in other_spans if s.get("prompt_id") == prompt_id and s.get("span_type") == "llm"), None)
        old, new = incident.first_message(other or {}), incident.first_message(decider)
        if not old or not new:
            return
        st.markdown(f"**How the prompt changed: {used[0]} → {prompt_id}@{version}**")
        st.caption("The first message of the deciding call here and of the same prompt in a run that went "
                   "well (lines that differ; customer-specific lines differ too).")
        st.code(incident.prompt_diff(old, new, used[0], f"{prompt_id}@{version}") or "(the same text)",
                language="diff", wrap_lines=True)
        return


def render() -> None:
    st.title("Incident trace-back")
    raw_trace, span_id = _ids()
    trace_id = parse_trace_id(raw_trace)
    if trace_id and not span_id:
        _pick_span(trace_id)
        return
    if not raw_trace or not span_id:
        _ask()
        return
    if not trace_id or len(span_id) != 16:
        _ask("That is not a trace id and span id: expected 32 and 16 hexadecimal characters.")
        return
    options = st.columns([1, 1, 2])
    url_compare = st.query_params.get("compare", "")
    # setdefault: on arrival, and for a widget whose state a run cut short dropped (see Search).
    st.session_state.setdefault("traceback.compare_n", int(url_compare) if url_compare.isdigit()
                                and int(url_compare) in COMPARE_CHOICES else DEFAULT_COMPARE)
    st.session_state.setdefault("traceback.all_runs", st.query_params.get("all_runs", "") == "1")
    compare = options[0].selectbox("Runs to compare", COMPARE_CHOICES, key="traceback.compare_n")
    all_runs = options[1].toggle("Include failed runs", key="traceback.all_runs")
    params = {"trace_id": trace_id, "span_id": span_id}
    if compare != DEFAULT_COMPARE:
        params["compare"] = str(compare)
    if all_runs:
        params["all_runs"] = "1"
    session.sync_url(params)
    back = session.cached_or_explained(
        "traceback", trace_id, span_id, compare=compare, healthy_only=not all_runs, spinner="Tracing back…",
        failed="The trace-back could not be loaded.",
        missing=lambda: _ask("No such span in this project's trace (it may not be written yet)."))
    if back is None:
        return
    session.remember_trace_id(trace_id)
    session.select_span(trace_id, span_id)

    target = back["target"]
    profile = back.get("profile") or {}
    st.text(f"trace {trace_id} · span {span_id}")
    cols = st.columns(3)
    cols[0].metric("Status", target.get("status") or "—")
    cols[1].metric("Inputs", f"{len(back.get('inputs') or []):,}")
    cols[2].metric("Other runs compared", f"{len(((back.get('comparison') or {}).get('runs')) or []):,}")
    st.caption("Agent and version")
    st.code(f"{target.get('agent_name') or '(unknown)'} {profile.get('agent_version') or '(no version)'}",
            language=None, wrap_lines=True)
    st.caption("Prompts used up to this step")
    st.code(", ".join(profile.get("prompts") or []) or "(none)", language=None, wrap_lines=True)
    st.caption("Models used up to this step")
    st.code(", ".join(profile.get("models") or []) or "(none)", language=None, wrap_lines=True)

    exports = st.columns([1, 1, 2])
    exports[0].download_button(
        "Export Markdown", data=incident.incident_markdown(back, _found(back)).encode("utf-8"),
        file_name=f"incident-{trace_id}-{span_id}.md", mime="text/markdown", icon=":material/download:",
        key="traceback.export_md",
    )
    exports[1].download_button(
        "Export JSON", data=incident.incident_json(back), file_name=f"incident-{trace_id}-{span_id}.json",
        mime="application/json", icon=":material/download:", key="traceback.export_json",
    )

    datasetform.add_spans("traceback", [datasetform.SpanRef(trace_id, span_id, str(target.get("span_name") or ""))])
    st.subheader("The step")
    _step_detail(target)
    _evidence(back)
    st.subheader("Causal chain (root first)")
    chain = incident.chain_rows(back)
    st.dataframe(pd.DataFrame(chain), hide_index=True, width="stretch", key="traceback.chain",
                 height=fmt.table_height(len(chain)))
    st.subheader("Inputs in time order")
    st.caption("Every span of the trace that had finished when this step started, plus upstream agents (links).")
    inputs = [*(back.get("inputs") or []), *(back.get("upstream") or [])]
    if inputs:
        rows = incident.input_rows(back)
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="traceback.inputs",
                     height=fmt.table_height(len(rows)))
        for n, step in enumerate(inputs, 1):
            with st.expander(f"Input {n}: {step.get('role')} ({step.get('span_type') or 'span'})"):
                _step_detail(step)
    else:
        st.info("Nothing ran before this span in its trace.", icon=":material/info:")
    _comparison(back)


if __name__ == "__main__":
    render()
