"""The UI process's warm-up (ui/warmup.py): a post-run garbage collection no longer scans the modules."""
from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, sys
before = len(gc.get_objects())
from flightlog.ui import warmup
warmup.freeze_once()
frozen = gc.get_freeze_count()
warmup.freeze_once()
print(json.dumps({"before": before, "scanned_after": len(gc.get_objects()), "frozen": frozen,
                  "frozen_again": gc.get_freeze_count(),
                  "loaded": all(m in sys.modules for m in ("flightlog.ui.charts", "flightlog.ui.transcript",
                                                            "altair", "pandas"))}))
"""


def test_after_the_warm_up_a_collection_scans_a_small_part_of_the_ui_process() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["loaded"], "every UI module and the chart libraries are imported before the freeze"
    assert figures["frozen"] > 100_000, figures  # the modules, altair's schema and its validators
    assert figures["scanned_after"] < figures["frozen"] / 10, figures
    assert figures["frozen_again"] == figures["frozen"], "a second call does nothing"
