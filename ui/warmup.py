"""The UI process's one-time warm-up: import everything, then take it out of the garbage collector.

Streamlit collects the oldest generation after every script run (``runner.postScriptGC``). In
the UI process that generation holds every module and altair's Vega-Lite schema with its
validators, 1.36 million objects, so each collection took 125–215 ms
(measured 2026-12-02 with a ``gc.callbacks`` probe, the Trace and Monitoring pages). It runs
right after the script, when the browser asks the same process for the page's JavaScript.
:func:`freeze_once` imports every UI module, builds and checks one chart (loading the schema
and its validators), collects once and freezes what is left (``gc.freeze``). After that, a
run's collection scans only what later runs made.
"""
from __future__ import annotations

import gc
import importlib
import pkgutil

_frozen = False


def freeze_once() -> None:
    """Warm up and freeze once per process; later calls do nothing."""
    global _frozen
    if _frozen:
        return
    import altair as alt
    import pandas as pd

    import flightlog.ui as package

    for module in pkgutil.iter_modules(package.__path__):
        if not module.ispkg and module.name != "app":
            importlib.import_module(f"{package.__name__}.{module.name}")
    alt.Chart(pd.DataFrame({"x": [1]})).mark_bar().encode(x=alt.X("x:Q")).to_dict()  # schema + validators
    gc.collect()
    gc.freeze()
    _frozen = True
