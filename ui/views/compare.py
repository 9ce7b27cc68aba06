"""Compare page: experiments side by side (``GET /api/experiments/compare``, docs/evaluation.md):
what each ran (agent version, prompt version, model), the mean per evaluator and its change
against the baseline, and every item — regressions first — with each experiment's output,
scores and a diff of the output against the baseline's. Below, every finished experiment of
the dataset pooled per evaluator and split by agent version, prompt version or model
(``GET /api/experiments/grouped``).

URL: ``/compare?ids=<baseline id>,<other id>[,…]&by=agent_version|prompt_version|model``.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import evaluation, session
from flightlog.ui.client import ApiError

MAX_COMPARED = 6
GROUPS = {"agent_version": "Agent version", "prompt_version": "Prompt version", "model": "Model"}


def _pick() -> tuple[str, list[str]]:
    client = session.get_client()
    url_ids = [i for i in st.query_params.get("ids", "").split(",") if i]
    try:
        datasets = [d["name"] for d in client.datasets()]
    except ApiError as exc:
        session.show_api_error("The datasets could not be loaded.", exc)
        return "", []
    if not datasets:
        st.info("No dataset yet: see the Datasets page.", icon=":material/dataset:")
        return "", []
    url_dataset = ""
    if url_ids:  # the URL's experiments say which dataset to show
        try:
            url_dataset = next((e["dataset"] for e in client.experiments(limit=500) if e["id"] == url_ids[0]), "")
        except ApiError:
            url_dataset = ""
    dataset = str(st.selectbox("Dataset", datasets,
                               index=datasets.index(url_dataset) if url_dataset in datasets else 0,
                               key="compare.dataset"))
    try:
        experiments = [e for e in client.experiments(dataset=dataset, limit=200) if e["status"] == "finished"]
    except ApiError as exc:
        session.show_api_error("The experiments could not be loaded.", exc)
        return dataset, []
    if len(experiments) < 2:
        st.info("Compare needs two finished experiments on this dataset (flightlog eval run).",
                icon=":material/compare:")
        return dataset, []
    by_id = {e["id"]: e for e in experiments}
    default = [i for i in url_ids if i in by_id] or [experiments[1]["id"], experiments[0]["id"]]
    ids = st.multiselect("Experiments (the first is the baseline)", list(by_id), default=default,
                         max_selections=MAX_COMPARED, key=f"compare.ids.{dataset}",
                         format_func=lambda i: evaluation.experiment_label(by_id[i]))
    if len(ids) < 2:
        st.info("Pick two or more experiments.", icon=":material/compare:")
        return dataset, []
    return dataset, ids


def _grouped(dataset: str) -> str:
    """Every finished experiment of the dataset, per evaluator, split by a run fact; returns the split."""
    st.subheader("Mean score per evaluator by agent version, prompt version or model")
    st.caption(f"Every finished experiment on {dataset} pooled: each item counts under the agent version, "
               "prompt version or model its own run used.")
    url_by = st.query_params.get("by", "")
    st.session_state.setdefault("compare.by", url_by if url_by in GROUPS else "agent_version")
    by = str(st.radio("Split by", list(GROUPS), key="compare.by", format_func=GROUPS.__getitem__, horizontal=True))
    try:
        body = session.get_client().experiment_groups(by=by, dataset=dataset)
    except ApiError as exc:
        session.show_api_error("The grouped scores could not be loaded.", exc)
        return by
    if not body["rows"]:
        st.text("No finished experiment on this dataset has scores yet.")
        return by
    st.dataframe(pd.DataFrame(evaluation.group_rows(body["rows"], GROUPS[by])), hide_index=True, width="stretch",
                 key=f"compare.grouped.{by}")
    return by


def render() -> None:
    st.title("Compare experiments")
    dataset, ids = _pick()
    if ids:
        _side_by_side(ids)
    if dataset:
        by = _grouped(dataset)
        session.sync_url({**({"ids": ",".join(ids)} if ids else {}), **({"by": by} if by != "agent_version" else {})})


def _side_by_side(ids: list[str]) -> None:
    try:
        comparison = session.get_client().compare_experiments(ids)
    except ApiError as exc:
        session.show_api_error("The experiments could not be compared.", exc)
        return
    st.dataframe(pd.DataFrame(evaluation.facts_rows(comparison)), hide_index=True, width="stretch")
    st.subheader("Mean score per evaluator")
    st.dataframe(pd.DataFrame(evaluation.evaluator_rows(comparison)), hide_index=True, width="stretch",
                 key="compare.evaluators")
    regressions = comparison["regressions"]
    st.subheader(f"Items: {regressions} regressed" if regressions else "Items: none regressed")
    rows = evaluation.item_comparison_rows(comparison)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="compare.items",
                 height=min(35 * (len(rows) + 1) + 3, 700))
    changed = [item for item in comparison["items"] if item["regressed"] or item["outputs_differ"]]
    for item in changed[:50]:
        with st.expander(f"Item {item['seq']}: output diff", expanded=item["regressed"]):
            st.code(evaluation.as_text(item["input"]), language=None, wrap_lines=True)
            base = item["results"][0]
            for n, other in enumerate(item["results"][1:], start=1):
                diff = evaluation.output_diff(base, other)
                st.text(f"#{n} against the baseline" + ("" if diff else ": same output"))
                if diff:
                    st.code(diff, language="diff", wrap_lines=True)


if __name__ == "__main__":
    render()
