"""Packaging: the wheel holds every module and data file, and the base install stays light."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"sdk": "flightlog", "collector": "flightlog/collector", "storage": "flightlog/storage", "ui": "flightlog/ui"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
    )
    (path,) = out.glob("flightlog-*.whl")
    return zipfile.ZipFile(path)


def _expected_files() -> set[str]:
    expected = set()
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sql", ".json") and "__pycache__" not in path.parts:
                expected.add(f"{package}/{path.relative_to(ROOT / folder).as_posix()}")
    return expected


def test_wheel_contains_every_module_and_data_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    missing = sorted(_expected_files() - names)
    assert not missing, f"not in the wheel: {missing} (add the package to [tool.setuptools] packages)"
    assert "flightlog/storage/migrations/0001_spans.sql" in names
    assert "flightlog/collector/prices.json" in names


def test_base_install_pulls_no_server_or_ui_dependencies(wheel: zipfile.ZipFile) -> None:
    meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    meta = Parser().parsestr(wheel.read(meta_name).decode())
    base = [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r]
    assert base and all(r.startswith("opentelemetry-") for r in base), base
    extras = set(meta.get_all("Provides-Extra"))
    assert {"server", "ui", "all", "dev"} <= extras


def test_import_flightlog_does_not_import_server_or_ui_packages() -> None:
    code = (
        "import sys, flightlog; "
        "bad = [m for m in ('clickhouse_connect', 'chdb', 'fastapi', 'streamlit', 'flightlog.collector') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import flightlog pulled in: {out}"
