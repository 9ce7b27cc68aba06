"""The ingest benchmark (bench/ingest.py) runs end to end on a small load, and the stage
clocks it reads from ``/metrics`` account for the spans that went through each stage.

A smoke run only: no figure is asserted against a speed (docs/performance.md has them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flightlog.collector.ingest import stages

BENCH = Path(__file__).resolve().parents[1] / "bench" / "ingest.py"


def test_the_benchmark_stores_everything_it_sends_and_reports_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    run = subprocess.run([sys.executable, str(BENCH), "--spans", "600", "--batch-spans", "100", "--concurrency", "2",
                          "--json-out", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    assert figures["spans_stored"] == figures["spans_sent"] >= 600
    assert figures["statuses"] == {"200": figures["requests"]}
    assert set(figures["stage_cpu_us_per_span"]) == set(stages.STAGES)
    # every stage did some work for these spans, and the stages are part of the collector's CPU
    assert all(v > 0 for v in figures["stage_cpu_us_per_span"].values()), figures["stage_cpu_us_per_span"]
    assert sum(figures["stage_cpu_us_per_span"].values()) < figures["collector_cpu_us_per_span"]
    assert figures["raw_insert_spans_per_s"] > 0 and figures["end_to_end_spans_per_s"] > 0
    assert "| end_to_end_spans_per_s |" in run.stdout


def test_stage_clocks_are_on_the_metrics_page(collector) -> None:
    from test_durability import PB, make_request

    _, body = make_request(7, spans=3)
    assert collector.post("/v1/traces", body, PB).status_code == 200
    collector.drain()
    text = collector.get("/metrics").text
    spans = {line.split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
             if line.startswith("flightlog_ingest_stage_spans_total{")}
    assert set(spans) == set(stages.STAGES) and all(spans[s] >= 3 for s in stages.STAGES)
    assert 'flightlog_ingest_cpu_seconds_total{stage="normalise"}' in text
