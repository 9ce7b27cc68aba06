"""The ``flightlog`` command (entry point :func:`main`).

:mod:`.main` holds the group and the server commands (``up``, ``serve``, ``ui``, ``demo``,
``keys``); :mod:`.audit` the audit commands; :mod:`.storage` prices and the benchmark.

May import anything in the collector (it is the outermost layer), the UI only lazily (so
the server extra alone still works).
"""

from flightlog.collector.cli.main import main

__all__ = ["main"]
