"""The import rules of docs/decisions/0008-packages-by-concern.md, checked over the source.

Every ``import`` and ``from … import`` of every module (including imports inside functions) is
resolved to a module name of the ``flightlog`` namespace, as pyproject.toml maps the folders
(``sdk/`` is ``flightlog``, ``collector/`` is ``flightlog.collector`` …), and checked against
the rules below. (import-linter cannot build a graph of this layout: its subpackages live in
sibling folders of the root package.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"sdk": "flightlog", "collector": "flightlog.collector", "storage": "flightlog.storage",
           "ui": "flightlog.ui"}

SDK = "flightlog"  # the SDK's own modules: flightlog._* and flightlog.semconv
SERVER_AND_UI = ("flightlog.collector", "flightlog.storage", "flightlog.ui", "fastapi", "starlette",
                 "clickhouse_connect", "chdb", "streamlit", "plotly", "uvicorn", "grpc")

# (rule, modules it applies to (prefixes), forbidden import prefixes)
RULES = [
    ("the SDK imports no server or UI package", ("flightlog._", "flightlog.semconv", "flightlog.policy",
                                                "flightlog.search", "flightlog.evaluators", "flightlog.pytest_plugin"),
     SERVER_AND_UI),
    ("the policy model imports nothing but the standard library", ("flightlog.policy",),
     ("flightlog._", "opentelemetry")),
    ("the vocabulary imports nothing", ("flightlog.semconv",), ("flightlog._", "opentelemetry")),
    ("the search vocabulary imports nothing", ("flightlog.search",), ("flightlog", "opentelemetry")),
    ("storage imports neither the collector nor the UI", ("flightlog.storage",),
     ("flightlog.collector", "flightlog.ui", "fastapi", "starlette", "streamlit")),
    ("the UI talks to the server only through its HTTP client", ("flightlog.ui",),
     ("flightlog.collector", "flightlog.storage", "clickhouse_connect", "chdb")),
    ("the API does not reach into ingest, the CLI or the demo", ("flightlog.collector.api",),
     ("flightlog.collector.ingest", "flightlog.collector.cli", "flightlog.collector.demo")),
    ("ingest imports neither the API, audit, the CLI, the demo nor the app", ("flightlog.collector.ingest",),
     ("flightlog.collector.api", "flightlog.collector.audit", "flightlog.collector.cli",
      "flightlog.collector.demo", "flightlog.collector.app")),
    ("audit services import neither the API, ingest, the CLI, the demo nor the app", ("flightlog.collector.audit",),
     ("flightlog.collector.api", "flightlog.collector.ingest", "flightlog.collector.cli",
      "flightlog.collector.demo", "flightlog.collector.app")),
    ("the control loop imports neither ingest, the API, the CLI, the demo nor the app", ("flightlog.collector.control",),
     ("flightlog.collector.ingest", "flightlog.collector.api", "flightlog.collector.cli",
      "flightlog.collector.demo", "flightlog.collector.app")),
    ("pricing imports neither ingest, the API, audit, the CLI nor the demo", ("flightlog.collector.pricing",),
     ("flightlog.collector.ingest", "flightlog.collector.api", "flightlog.collector.audit",
      "flightlog.collector.cli", "flightlog.collector.demo", "flightlog.storage")),
    ("GenAI content rendering is pure", ("flightlog.collector.genai",),
     ("flightlog.collector.ingest", "flightlog.collector.api", "flightlog.collector.audit",
      "flightlog.storage", "fastapi")),
    ("only the CLI imports the demo",
     ("flightlog.collector.app", "flightlog.collector.api", "flightlog.collector.ingest",
      "flightlog.collector.audit", "flightlog.collector.genai", "flightlog.collector.config",
      "flightlog.collector.auth", "flightlog.collector.bootstrap", "flightlog.collector.errors",
      "flightlog.collector.metrics", "flightlog.collector.logconfig", "flightlog.collector.pricing",
      "flightlog.collector.control"),
     ("flightlog.collector.demo",)),
]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    base = FOLDERS[parts[0]]
    rest = [p for p in parts[1:] if p != "__init__"]
    return ".".join([base, *rest])


def modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Absolute names of everything the module imports (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)
    return out


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p.rstrip(".") or name.startswith(p if p.endswith((".", "_")) else p + ".")
               for p in prefixes)


def _applies(name: str, prefixes: tuple[str, ...]) -> bool:
    return _matches(name, prefixes)


ALL = modules()


@pytest.mark.parametrize("rule,sources,forbidden", RULES, ids=[r[0] for r in RULES])
def test_import_rule(rule: str, sources: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    covered = [name for name in ALL if _applies(name, sources)]
    assert covered, f"rule {rule!r} applies to no module"
    broken = sorted(f"{name} imports {target}" for name in covered
                    for target in imports_of(name, ALL[name]) if _matches(target, forbidden))
    assert broken == [], f"{rule}: " + "; ".join(broken)


def test_every_sdk_module_is_covered_by_the_sdk_rule() -> None:
    sdk = [name for name, path in ALL.items() if path.parent == ROOT / "sdk" and path.name != "__init__.py"]
    assert sdk and all(_applies(name, RULES[0][1]) for name in sdk)


def test_every_collector_package_says_what_it_owns_and_may_import() -> None:
    for init in sorted((ROOT / "collector").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{init.relative_to(ROOT)} does not say what it may import"


def test_the_rules_catch_a_forbidden_import(tmp_path: Path) -> None:
    # The checker itself: a relative import from ingest into the API is seen as such.
    fake = ROOT / "collector" / "ingest" / "routes.py"
    source = fake.read_text() + "\nfrom ..api import query  # noqa\n"
    probe = tmp_path / "routes.py"
    probe.write_text(source)
    found = imports_of("flightlog.collector.ingest.routes", probe)
    assert _matches("flightlog.collector.api", next(r for r in RULES if r[1] == ("flightlog.collector.ingest",))[2]) and "flightlog.collector.api.query" in found
