"""The "Add to dataset" form of the Trace, Trace-back and Search pages and the "New dataset" form
of the Datasets page (docs/evaluation.md, "Datasets from the UI").

Both act through the API with the key of the person signed in in the sidebar (an engineer or
admin key), never with the UI's shared read key, so every dataset and item is recorded as theirs.
Everything shown of a span or a dataset goes through ``st.text`` (never markdown).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from flightlog.ui import session
from flightlog.ui.client import ApiError

ROLES = ("engineer", "admin")
_ADDED = "datasetform.added"
_CREATED = "datasetform.created"


@dataclass(frozen=True)
class SpanRef:
    """One span to make an item of: where it is, and how to name it for people."""

    trace_id: str
    span_id: str
    label: str


def _person(doing: str, gerund: str) -> session.Person | None:
    """The signed-in person allowed to act, or None (the form says why)."""
    person = session.signed_in()
    if person is None:
        st.info(f"Sign in with your own engineer or admin key (sidebar) to {doing}: it is recorded as yours.",
                icon=":material/key:")
        return None
    if person.who["role"] not in ROLES:
        # The role is one of the collector's words; the person's name is not rendered as markdown.
        st.info(f"{gerund[0].upper()}{gerund[1:]} needs an engineer or admin key; yours is an "
                f"{person.who['role']} key.", icon=":material/key:")
        return None
    return person


def add_spans(key: str, spans: Sequence[SpanRef], *, expanded: bool = False,
              on_added: Callable[[], None] = lambda: None) -> None:
    """An expander with a form that adds ``spans`` (each its input, its output as the expected one)
    to a dataset chosen by the person; ``key`` tells the page's forms apart; ``on_added`` runs
    once they are added (before the page runs again)."""
    box = st.expander("Add to dataset", icon=":material/dataset:", expanded=expanded, key=f"{key}.dataset.open",
                      on_change="rerun")
    if not box.open:  # the form (and the datasets read) only when opened (docs/performance-ui.md)
        return
    with box:
        added = st.session_state.pop(f"{_ADDED}.{key}", None)
        if added:  # names come from people: the details as text, never markdown
            st.success("Added to the dataset.", icon=":material/check:")
            st.text(added)
        if not spans:
            st.text("Select one or more rows first.")
            return
        person = _person("add spans to a dataset", "adding to a dataset")
        if person is None:
            return
        try:  # the dataset added to last comes first: the one being built
            found = session.get_client().datasets()
            names = [d["name"] for d in sorted(found, key=lambda d: d["last_added_at"] or d["created_at"],
                                               reverse=True)]
        except ApiError as exc:
            session.show_api_error("The datasets could not be loaded.", exc)
            return
        if not names:
            st.text("No dataset yet: create one on the Datasets page (or flightlog datasets create NAME).")
            st.page_link(session.DATASETS_PAGE, label="Go to Datasets", icon=":material/dataset:")
            return
        ident = ",".join(s.span_id for s in spans)[:200]
        with st.form(f"{key}.dataset.{ident}", border=False):
            if len(spans) == 1:
                st.text(f"span {spans[0].label} ({spans[0].span_id}): its input becomes the item's input, "
                        "its output the expected one")
            else:
                st.text(f"{len(spans)} spans: each one's input becomes an item's input, its output the expected one")
                st.text("\n".join(f"{s.label} ({s.span_id})" for s in spans[:20])
                        + (f"\n… and {len(spans) - 20} more" if len(spans) > 20 else ""))
            name = str(st.selectbox("Dataset", names, key=f"{key}.dataset.name.{ident}"))
            note = st.text_input("Note (kept in the item's metadata)", key=f"{key}.dataset.note.{ident}")
            submitted = st.form_submit_button("Add to dataset", icon=":material/add:")
        if submitted:
            _submit(key, person, name, note, spans, on_added)


def _submit(key: str, person: session.Person, name: str, note: str, spans: Sequence[SpanRef],
            on_added: Callable[[], None]) -> None:
    metadata = {"note": note} if note.strip() else None
    try:  # one call: every span's item, or none of them
        result = session.get_client().add_spans_to_dataset(name, [(s.trace_id, s.span_id) for s in spans],
                                                           api_key=person.key, metadata=metadata)
    except ApiError as exc:
        session.forget_refused_key(exc)
        session.show_api_error("Nothing was added to the dataset.", exc)
        return
    item_ids, version = list(result["item_ids"]), result["version"]
    if len(item_ids) == 1:
        message = f"Added to {name} as item {item_ids[0]} (version {version})."
    else:
        message = f"Added {len(item_ids)} items to {name} (version {version}): {', '.join(item_ids)}."
    st.session_state[f"{_ADDED}.{key}"] = message
    on_added()
    st.rerun()


def create_dataset(key: str = "datasets.new", *, picker: str = "") -> None:
    """An expander with the New dataset form (name and description), as the signed-in person;
    once made, the new dataset is chosen in the page's ``picker`` selectbox (its key)."""
    created = st.session_state.pop(_CREATED, None)
    # Open once used: the outcome of the last submission stays in view.
    with st.expander("New dataset", icon=":material/add_circle:", expanded=bool(st.session_state.get(f"{key}.used"))):
        if created:
            st.success("Dataset created.", icon=":material/check:")
            st.text(created)
        person = _person("create a dataset", "creating a dataset")
        if person is None:
            return
        with st.form(key, border=False, clear_on_submit=True):
            name = st.text_input("Name", key=f"{key}.name", max_chars=100,
                                 help="Letters, digits, '.', '_' and '-'; it cannot be changed later.")
            description = st.text_area("Description", key=f"{key}.description", max_chars=10_000)
            submitted = st.form_submit_button("Create dataset", icon=":material/add:")
        if not submitted:
            return
        st.session_state[f"{key}.used"] = True
        if not name.strip():
            st.warning("Give the dataset a name.", icon=":material/warning:")
            return
        try:
            made = session.get_client().create_dataset(name.strip(), description, api_key=person.key)
        except ApiError as exc:
            session.forget_refused_key(exc)
            session.show_api_error("The dataset could not be created.", exc)
            return
        st.session_state[_CREATED] = f"Created dataset {made['name']} (by {made['created_by']})."
        st.query_params["dataset"] = made["name"]
        if picker:
            st.session_state[picker] = made["name"]
        st.rerun()
