"""Compare page: experiments side by side (``GET /api/experiments/compare``, docs/evaluation.md):
what each ran (agent version, prompt version, model), the mean per evaluator and its change
against the baseline, and every item — regressions first — with each experiment's output,
scores and a diff of the output against the baseline's.

URL: ``/compare?ids=<baseline id>,<other id>[,…]``.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import evaluation, session
from flightlog.ui.client import ApiError

MAX_COMPARED = 6


def _pick() -> list[str]:
    client = session.get_client()
    url_ids = [i for i in st.query_params.get("ids", "").split(",") if i]
    try:
        datasets = [d["name"] for d in client.datasets()]
    except ApiError as exc:
        session.show_api_error("The datasets could not be loaded.", exc)
        return []
    if not datasets:
        st.info("No dataset yet: see the Datasets page.", icon=":material/dataset:")
        return []
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
        return []
    if len(experiments) < 2:
        st.info("Compare needs two finished experiments on this dataset (flightlog eval run).",
                icon=":material/compare:")
        return []
    by_id = {e["id"]: e for e in experiments}
    default = [i for i in url_ids if i in by_id] or [experiments[1]["id"], experiments[0]["id"]]
    ids = st.multiselect("Experiments (the first is the baseline)", list(by_id), default=default,
                         max_selections=MAX_COMPARED, key=f"compare.ids.{dataset}",
                         format_func=lambda i: evaluation.experiment_label(by_id[i]))
    if len(ids) < 2:
        st.info("Pick two or more experiments.", icon=":material/compare:")
        return []
    session.sync_url({"ids": ",".join(ids)})
    return ids


def render() -> None:
    st.title("Compare experiments")
    ids = _pick()
    if not ids:
        return
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
