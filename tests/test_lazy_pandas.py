"""A collector does not import pandas to store rows, and DataFrames still insert once it is
imported (flightlog.storage.lazy_pandas, docs/decisions/0046-no-pandas-import-for-row-inserts.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import clean_env, fixture_bytes, start_collector

SCRIPT = r"""
import sys
from flightlog.storage import lazy_pandas, open_store

lazy_pandas.install()
store = open_store("chdb://" + sys.argv[1])
store.insert("schema_migrations", [[9001, "rows"]], ["Version", "Name"])
print("pandas after a row insert:", "pandas" in sys.modules)

import pandas
from clickhouse_connect.driver import options

print("stands for pandas:", bool(options.pd) and options.pd.DataFrame is pandas.DataFrame)
frame = pandas.DataFrame({"Version": [9002], "Name": ["frame"]})
store._writer.insert_df("schema_migrations", frame)
names = [r[0] for r in store.query_rows("SELECT Name FROM schema_migrations WHERE Version >= 9001 ORDER BY Version")]
print("stored:", names)
store.close()
"""


def test_rows_insert_without_pandas_and_a_dataframe_still_inserts_after_it_is_imported(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "store")], env=clean_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "pandas after a row insert: False" in lines, done.stdout
    assert "stands for pandas: True" in lines, done.stdout
    assert "stored: ['rows', 'frame']" in lines, done.stdout


def test_a_serving_collector_has_not_loaded_pandas(tmp_path: Path) -> None:
    collector = start_collector(tmp_path / "collector")
    try:
        assert collector.post("/v1/traces", fixture_bytes("otel-genai-openai-v2.pb"),
                              "application/x-protobuf").status_code == 200
        assert collector.api("/api/spans", limit=1)["total"] > 0
        maps = Path(f"/proc/{collector.proc.pid}/maps").read_text()
        assert "/pandas/" not in maps, "the collector loaded pandas' libraries"
    finally:
        collector.stop()
