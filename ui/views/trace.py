"""Trace page: one trace (``GET /api/traces/{id}``) as a waterfall, an indented span tree,
and the detail of the selected span.

URL: ``/trace?trace_id=<32 hex>&span_id=<16 hex>``. Without ``trace_id`` the page shows
the last trace opened in this session, or asks for an id.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from flightlog import semconv as sc

import pandas as pd
import streamlit as st

from flightlog.ui import charts
from flightlog.ui import format as fmt
from flightlog.ui import datasetform, inbox, killswitch, session, transcript
from flightlog.ui.client import ApiError, Trace
from flightlog.ui.filters import parse_trace_id
from flightlog.ui.texttable import field_list

_LOOKUP = "trace.lookup"
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="flightlog-trace")
_TREE_COLUMNS = {
    "span": st.column_config.TextColumn("span", width=320),
    "status": st.column_config.TextColumn("status", width=50),
    "duration": st.column_config.TextColumn("duration", width=70),
    "cost": st.column_config.TextColumn("cost", width=70),
    "start": st.column_config.TextColumn("start", width=65),
    "type": st.column_config.TextColumn("type", width=60),
}


def _selection(key: str, part: str) -> list[Any]:
    """The points or rows selected in a chart or table (``key``) as this run starts."""
    state = st.session_state.get(key)
    try:
        return list(state["selection"][part]) if state else []
    except (KeyError, TypeError):
        return []


def _picked(key: str, indexes: list[int]) -> int | None:
    """The row newly picked in a selectable element (``key``), or None if nothing changed.

    Comparing with the previous run, rather than using an ``on_select`` callback, means the
    last element the user touched wins, whether the change came from a browser or a test.
    """
    seen_key = f"{key}.seen"
    changed = st.session_state.get(seen_key) != indexes
    st.session_state[seen_key] = indexes
    return indexes[0] if changed and indexes else None


def _lookup() -> None:
    trace_id = parse_trace_id(st.session_state.get(_LOOKUP, ""))
    if trace_id:
        session.select_span(trace_id, "")
        st.query_params.from_dict({"trace_id": trace_id})


def _ask_for_trace(problem: str = "") -> None:
    if problem:
        st.warning(problem, icon=":material/warning:")
    else:
        st.info("No trace open. Pick a result on the Search page, or paste a trace id.")
    st.text_input("Trace id", key=_LOOKUP, on_change=_lookup, placeholder="32 hexadecimal characters")
    st.page_link(session.SEARCH_PAGE, label="Go to Search", icon=":material/search:")


def _text_block(label: str | None, text: str, key: str) -> None:
    """Show span text as text: a preview, with the whole of a long text in an expander.

    ``label`` is one of the page's own words (markdown); span-provided labels go through
    ``st.text`` by the caller, never markdown. ``key`` names the block's expander.
    """
    if label:
        st.markdown(f"**{label}**")
    preview, cut = fmt.truncate(text)
    # st.text, not st.code: the code box's highlighter is a 1.5 MB script that every new
    # browser session would load before the page settles (docs/performance-ui.md).
    with st.container(border=True):
        st.text(preview)
    if cut:
        whole = st.expander(f"Show all {len(text):,} characters", key=f"trace.all.{key}", on_change="rerun")
        if whole.open:  # built only when opened; the code box has a copy button
            with whole:
                st.code(text, language=None, wrap_lines=True)


def _json_or_text(label: str, text: str, key: str) -> None:
    is_json, value = fmt.parse_json(text)
    if is_json:
        st.markdown(f"**{label}**")
        st.json(value, expanded=2)
    else:
        _text_block(label, text, key)


def _detail(span: dict[str, Any], span_ids: set[str]) -> None:
    st.subheader("Selected span")
    trace_id = str(span.get("trace_id") or "")
    if st.button("Trace back from this span", icon=":material/manage_search:", key="trace.traceback"):
        st.switch_page(session.TRACEBACK_PAGE, query_params={"trace_id": trace_id, "span_id": str(span.get("span_id") or "")})
    decider = str((span.get("span_attributes") or {}).get(sc.DECIDED_BY_SPAN_ID) or "")
    if decider in span_ids and st.button("Open the LLM call that decided this", icon=":material/smart_toy:",
                                         key="trace.decided_by"):
        session.open_trace(trace_id, decider)
    datasetform.add_spans("trace", [datasetform.SpanRef(trace_id, str(span.get("span_id") or ""),
                                                        str(span.get("span_name") or ""))])
    metrics = st.columns(3)
    metrics[0].metric("Latency", fmt.format_duration(span.get("duration_ms")))
    tokens = int(span.get("input_tokens") or 0) + int(span.get("output_tokens") or 0)
    metrics[1].metric("Tokens", fmt.format_tokens(tokens))
    metrics[2].metric("Cost", fmt.format_money(span.get("cost_usd") or 0.0))
    # Plain text that wraps: long values (error messages, decided by) are never cut off.
    field_list(fmt.span_properties(span), key="trace-fields")


def _content(span: dict[str, Any]) -> None:
    """The selected span's messages, texts and raw fields, over the page's full width."""
    messages = transcript.chat_messages(span)
    if messages or any(span.get(k) for k in ("input_text", "output_text", "tool_args", "tool_result")):
        st.subheader("What the span said and did")
    if messages:
        st.markdown("**Messages**")
        for n, (role, text) in enumerate(messages):
            with st.chat_message(transcript.chat_role(role)):
                st.text(role)  # the role comes from the span: text, never markdown
                _text_block(None, text, f"message.{n}")
    texts = [(label, str(span[key]), key) for label, key in (("Input", "input_text"), ("Output", "output_text"))
             if span.get(key)]
    if messages and texts:
        stored = st.expander("Input and output as stored (what search matches)", key="trace.stored",
                             on_change="rerun")
        if stored.open:  # what is behind a closed expander is not built (docs/performance-ui.md)
            with stored:
                for label, text, key in texts:
                    _text_block(label, text, key)
    else:
        for label, text, key in texts:
            _text_block(label, text, key)
    for label, key in (("Tool arguments", "tool_args"), ("Tool result", "tool_result")):
        if span.get(key):
            _json_or_text(label, str(span[key]), key)
    for label, key in (
        ("Raw span attributes", "span_attributes"),
        ("Events", "events"),
        ("Links", "links"),
        ("Resource attributes", "resource_attributes"),
    ):
        if span.get(key):
            raw = st.expander(label, key=f"trace.raw.{key}", on_change="rerun")
            if raw.open:
                with raw:
                    st.json(span[key], expanded=True)


def _summary(trace: Trace) -> None:
    """The trace's totals as the API computed them (its duration leaves out control events
    recorded after the run, docs/ui.md)."""
    raw = trace.raw
    cols = st.columns(5)
    cols[0].metric("Spans", f"{raw['span_count']:,}")
    cols[1].metric("Duration", fmt.format_duration(raw["duration_ms"]))
    cols[2].metric("Tokens", fmt.format_tokens(raw["input_tokens"] + raw["output_tokens"]))
    cols[3].metric("Cost", fmt.format_money(trace.total_cost_usd))
    cols[4].metric("Errors", f"{raw['error_count']:,}")


def _pauses() -> Future[Any]:
    """The pause list (``GET /api/control/state``), read fresh so that a pause shows at once,
    and asked for at the same time as the trace (the page waits for the slower of the two)."""
    return _POOL.submit(session.get_client().control_state)


def _kill_switch(spans: Sequence[Mapping[str, Any]], state: Future[Any]) -> None:
    """Pause or resume the trace's agent (this version, or every version) as the signed-in admin."""
    agent_span = next((s for s in spans if s.get("agent_name")), None)
    if agent_span is None:
        return
    agent, version = str(agent_span["agent_name"]), str(agent_span.get("agent_version") or "")
    try:
        pauses = state.result()["pauses"]
    except ApiError:
        pauses = []  # the read-only part of the page does not depend on it
    covering = inbox.pauses_covering(pauses, agent, version)
    title = "Kill switch: this trace's agent is paused" if covering else "Kill switch: pause this trace's agent"
    killswitch.flash()  # what the last pause or resume did, above the expander: seen even when closed
    switch = st.expander(title, icon=":material/pause_circle:", expanded=bool(covering),
                         key=f"trace.killswitch.{'paused' if covering else 'running'}", on_change="rerun")
    if not switch.open:  # the forms are built when it is opened (open by itself while paused)
        return
    with switch:
        st.text(f"agent {agent}" + (f", version {version}" if version else ""))
        for pause in covering:
            st.text(f"Paused: {pause['scope']} — {pause['reason']} (by {pause['by']}, "
                    f"since {fmt.format_time(pause['at'])})")
        missing = killswitch.permission_note()
        if missing:  # no disabled forms for who may not use them: the trace itself comes first
            st.info(missing, icon=":material/key:")
        else:
            killswitch.resume_form("trace.killswitch", list(covering), missing="")
            scopes = {f"agent {agent} (every version)": {"agent": agent}}
            if version:
                scopes = {f"agent {agent} version {version}": {"agent": agent, "agent_version": version}, **scopes}
            killswitch.pause_form("trace.killswitch", scopes, missing="")
        st.page_link(session.CONTROL_PAGE, label="All pauses", icon=":material/pause_circle:",
                     query_params={"agent": agent, **({"agent_version": version} if version else {})})


def render() -> None:
    st.title("Trace")
    raw_id = st.query_params.get("trace_id") or session.remembered_trace_id()
    if not raw_id:
        _ask_for_trace()
        return
    trace_id = parse_trace_id(raw_id)
    if not trace_id:
        _ask_for_trace("That is not a trace id: expected 32 hexadecimal characters.")
        return
    state = _pauses()
    trace = session.cached_or_explained(
        "get_trace", trace_id, spinner="Loading the trace…", failed="The trace could not be loaded.",
        missing=lambda: _ask_for_trace("No trace with this id in this project (it may not be written yet)."))
    if trace is None:
        return
    spans = trace.spans
    if not spans:
        _ask_for_trace("This trace has no spans.")
        return
    session.remember_trace_id(trace_id)
    all_spans = spans
    selected = session.selected_span(trace_id, st.query_params.get("span_id", ""))
    parents = {str(s.get("parent_span_id") or "") for s in spans}
    foldable = [s for s in spans if str(s.get("span_id") or "") in parents]
    fold_cols = st.columns([3, 1])
    collapsed = fold_cols[0].multiselect(
        "Collapse", [str(s.get("span_id")) for s in foldable], key=f"trace.collapse.{trace_id}",
        format_func=lambda sid: next((f"{s.get('span_name')} ({sid[:6]})" for s in foldable
                                      if s.get("span_id") == sid), sid),
        help="Hide the spans under these spans in the waterfall and the tree.",
    )
    max_depth_choice = fold_cols[1].selectbox(
        "Depth", ["all", *range(max(int(s.get("depth") or 0) for s in spans) + 1)], key=f"trace.depth.{trace_id}")
    shown = transcript.visible_spans(spans, set(collapsed), None if max_depth_choice == "all" else int(max_depth_choice))
    spans = [all_spans[i] for i in shown]
    span_ids = [str(s.get("span_id") or "") for s in spans]

    # The id, the totals and the kill switch sit above the waterfall but are filled in after the
    # waterfall and the tree are sent: the browser starts loading the chart's and the grid's code
    # first, and the kill switch's pause list has come back meanwhile (docs/performance-ui.md).
    header = st.container()
    chart_key = f"trace.waterfall.{trace_id}"
    tree_key = f"trace.tree.{trace_id}"
    # What was clicked arrives with this run: read it before drawing, so that the chart and
    # the tree are drawn with that span highlighted. A clicked bar carries its span's row
    # (see charts.waterfall_figure).
    clicked = [int(p["row"]) for p in _selection(chart_key, charts.SELECTION)
               if isinstance(p, dict) and isinstance(p.get("row"), (int, float))]
    for picked in (_picked(chart_key, clicked), _picked(tree_key, list(_selection(tree_key, "rows")))):
        if picked is not None and 0 <= picked < len(spans):
            selected = span_ids[picked]
    known = {str(s.get("span_id") or "") for s in all_spans}
    if selected and selected not in known:
        st.warning(f"There is no span {selected[:32]} in this trace; showing its first span instead.",
                   icon=":material/warning:")
    if selected not in span_ids:
        selected = span_ids[0]
    row = span_ids.index(selected)
    session.select_span(trace_id, selected)
    session.sync_url({"trace_id": trace_id, "span_id": selected})
    st.altair_chart(
        charts.for_page(charts.waterfall_figure({"spans": spans}, selected=row)),
        key=chart_key,
        on_select="rerun",
        selection_mode=charts.SELECTION,
        width="stretch",
    )
    # The tree over the page's width, the selected span below it: beside each other, at 1280 px
    # the tree had to cut its last columns (start, type) or the span names.
    tree_col, detail_col = st.container(), st.container()
    with tree_col:
        st.subheader("Spans")
        st.caption("Select a row (or click a bar above) to see that span; ▶ marks the one shown.")
        st.dataframe(
            fmt.highlight_row(pd.DataFrame(fmt.tree_rows(spans, selected=row)), row),
            key=tree_key,
            hide_index=True,
            on_select="rerun",
            selection_mode="single-row",
            width="stretch",
            column_config=_TREE_COLUMNS,
            height=min(35 * (len(spans) + 1) + 3, 700),
        )
    with header:
        st.text(f"trace {trace_id}")
        _summary(trace)
        _kill_switch(all_spans, state)
    with detail_col:
        _detail(spans[row], known)
    _content(spans[row])


if __name__ == "__main__":
    render()
