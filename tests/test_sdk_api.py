"""Tests for the flightlog package surface: the public API, its documentation in docs/sdk.md,
the FLIGHTLOG_* variables, the light base install, and the docs example run end to end."""

from __future__ import annotations

import http.server
import inspect
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import flightlog
from flightlog import semconv
from flightlog import _env

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "sdk.md").read_text()
ENV_CONSTANTS = sorted(v for k, v in vars(_env).items() if k.startswith("FLIGHTLOG_"))


def test_all_is_sorted_and_complete():
    assert flightlog.__all__ == sorted(flightlog.__all__)
    # flightlog.collector/.storage/.ui are separate packages of the namespace, flightlog.semconv
    # and flightlog.search the vocabularies, flightlog.policy the policy model and
    # flightlog.evaluators the evaluators' module, not SDK API names; they appear as attributes
    # once something has imported them.
    public = {n for n in dir(flightlog) if not n.startswith("_")} - {"collector", "storage", "ui", "semconv",
                                                                      "policy", "search", "evaluators"}
    assert public <= set(flightlog.__all__)


@pytest.mark.parametrize("name", [n for n in flightlog.__all__ if n != "__version__"])
def test_public_names_claim_the_flightlog_module(name):
    assert getattr(flightlog, name).__module__ == "flightlog"


@pytest.mark.parametrize("name", [n for n in flightlog.__all__ if n != "__version__"])
def test_public_names_are_documented_in_docs(name):
    assert re.search(rf"\b{re.escape(name)}\b", DOCS), f"{name} missing from docs/sdk.md"


@pytest.mark.parametrize("name", ENV_CONSTANTS)
def test_every_flightlog_env_var_is_a_documented_constant(name):
    assert getattr(_env, name) == name
    assert name in _env.ALL_VARIABLES
    assert f"`{name}`" in DOCS, f"{name} missing from docs/sdk.md"
    assert "Default:" in (_doc_of(name) or ""), f"{name} has no docstring with Default:"


def _doc_of(constant: str) -> str | None:
    source = inspect.getsource(_env)
    match = re.search(rf'^{constant} = "{constant}"\n"""(.*?)"""', source, re.S | re.M)
    return match.group(1) if match else None


def test_env_module_reads_only_documented_flightlog_variables():
    sources = "".join(p.read_text() for p in (ROOT / "sdk").glob("*.py"))
    used = set(re.findall(r'"(FLIGHTLOG_[A-Z_]+)"', sources))
    assert used <= set(ENV_CONSTANTS)


@pytest.mark.parametrize("key", sorted(semconv.SDK_KEYS))
def test_attribute_keys_are_documented(key):
    assert f"`{key}`" in DOCS


def test_base_install_imports_without_server_or_ui_dependencies():
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"fastapi", "uvicorn", "clickhouse_connect", "chdb", "streamlit",
                                           "plotly", "httpx", "click", "pandas", "grpc"}:
                    raise ImportError("blocked " + name)
        sys.meta_path.insert(0, Block())
        import flightlog
        flightlog.init(exporter=None, endpoint="http://127.0.0.1:9")
        with flightlog.agent_run("x"):
            pass
        flightlog.shutdown(timeout_s=0.1)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_docs_example_runs_and_exports_its_trace(tmp_path):
    code = re.search(r"## A complete example.*?```python\n(.*?)```", DOCS, re.S).group(1)
    script = tmp_path / "example_agent.py"
    script.write_text(code)
    handler = type("Handler", (_Receiver,), {"bodies": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("FLIGHTLOG_", "OTEL_"))}
        env["FLIGHTLOG_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert "5 working days" in result.stdout
    names, attributes = [], {}
    for body in handler.bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    names.append(span.name)
                    attributes[span.name] = {a.key: a.value for a in span.attributes}
    assert sorted(names) == sorted([
        "invoke_agent support_bot", "chat fake-gpt", "chat fake-gpt", "retrieval kb",
        "execute_tool search_kb", "checkpoint tell customer refund timing",
    ])
    assert "ann@example.com" not in str(attributes)
    assert attributes["invoke_agent support_bot"]["flightlog.project"].string_value == "demo"
