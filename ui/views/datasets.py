"""Datasets page: the project's datasets, the items of one version, exports, and the
experiments run on it (``GET /api/datasets``, ``/api/datasets/{name}/items``,
``/api/datasets/{name}/export``, ``/api/experiments?dataset=``; docs/evaluation.md).

URL: ``/datasets?dataset=<name>&version=<N>``. A dataset is created here ("New dataset", with
your own key), from the CLI or the API; items are added from the CLI, the API, or the Trace,
Trace-back and Search pages ("Add to dataset", with your own key).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from flightlog.ui import datasetform, evaluation, session
from flightlog.ui.client import ApiError


def _table(rows: list[dict[str, object]], key: str) -> None:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key=key,
                 height=min(35 * (len(rows) + 1) + 3, 600))


def render() -> None:
    st.title("Datasets")
    client = session.get_client()
    try:
        found = client.datasets()
    except ApiError as exc:
        session.show_api_error("The datasets could not be loaded.", exc)
        return
    datasetform.create_dataset(picker="datasets.name")
    if not found:
        st.info("No dataset yet. Create one above (or with flightlog datasets create NAME), then add items from "
                "the command line or from a span (Add to dataset on the Trace, Trace-back and Search pages).",
                icon=":material/dataset:")
        return
    st.dataframe(pd.DataFrame([{"dataset": d["name"], "version": d["version"], "items": d["items"],
                                "last added": d["last_added_at"] or "—", "description": d["description"],
                                "created by": d["created_by"]} for d in found]),
                 hide_index=True, width="stretch")
    names = [d["name"] for d in found]
    wanted = st.query_params.get("dataset", "")
    name = str(st.selectbox("Dataset", names, index=names.index(wanted) if wanted in names else 0,
                            key="datasets.name"))
    dataset = next(d for d in found if d["name"] == name)
    url_version = st.query_params.get("version", "")
    start = int(url_version) if url_version.isdigit() and int(url_version) <= dataset["version"] else dataset["version"]
    version = int(st.number_input("Version (the first N items)", min_value=0, max_value=dataset["version"],
                                  value=start, step=1, key=f"datasets.version.{name}"))
    session.sync_url({"dataset": name, **({"version": str(version)} if version != dataset["version"] else {})})
    try:
        page = client.dataset_items(name, version=version)
    except ApiError as exc:
        session.show_api_error("The items could not be loaded.", exc)
        return
    st.subheader(f"Items of version {page['version']}")
    if page["items"]:
        _table(evaluation.item_rows(page["items"]), f"datasets.items.{name}.{version}")
    else:
        st.text("No items in this version.")
    cols = st.columns(2)
    for col, fmt, mime in ((cols[0], "jsonl", "application/x-ndjson"), (cols[1], "csv", "text/csv")):
        try:
            data = client.export_dataset(name, fmt, version=version)
        except ApiError as exc:
            session.show_api_error(f"The {fmt.upper()} export could not be made.", exc)
            continue
        col.download_button(f"Export {fmt.upper()}", data, file_name=f"{name}-v{version}.{fmt}", mime=mime,
                            icon=":material/download:", key=f"datasets.export.{fmt}")
    st.subheader("Experiments on this dataset")
    try:
        experiments = client.experiments(dataset=name)
    except ApiError as exc:
        session.show_api_error("The experiments could not be loaded.", exc)
        return
    if not experiments:
        st.text("None yet: flightlog eval run --dataset " + name + " --task module:function …")
        return
    _table(evaluation.experiment_rows(experiments), f"datasets.experiments.{name}")
    finished = [e for e in experiments if e["status"] == "finished"]
    if len(finished) >= 2:
        st.page_link(session.COMPARE_PAGE, label="Compare the latest two", icon=":material/compare:",
                     query_params={"ids": f"{finished[1]['id']},{finished[0]['id']}"})


if __name__ == "__main__":
    render()
