"""Flightlog UI: a Streamlit app over the collector's read-only query API.

Run it with ``streamlit run ui/app.py`` (or ``flightlog ui``). The app never opens the
store: every figure it shows comes from one documented HTTP call made by
:class:`flightlog.ui.client.ApiClient` (docs/contracts.md, "HTTP API answers"; docs/ui.md).
"""

from pathlib import Path

APP_PATH = Path(__file__).with_name("app.py")
"""The Streamlit entry script, for launchers: ``streamlit run <APP_PATH>``."""

__all__ = ["APP_PATH"]
