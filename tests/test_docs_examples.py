"""Every shell and Python example in README.md and docs/ runs, as written, against a live collector.

The examples are written for a user: they call ``http://127.0.0.1:4318`` and use the keys as
``$INGEST_KEY``, ``$READ_KEY``, ``$ADMIN_KEY`` and ``$AUDITOR_KEY``. Here one ``flightlog serve``
per module (loopback port, its own data directory, OTLP/gRPC on, the demo data loaded) stands in
for ``flightlog up --demo``: the URLs are rewritten to it and the keys are set in the
environment, with ``FLIGHTLOG_DATA_DIR`` pointing at its data directory.

A fenced ``bash``/``sh``/``console``/``python`` block may be preceded by marker comments:

``<!-- docs-test: skip REASON — why -->``
    not run; REASON must be one of :data:`ALLOWED_SKIPS`.
``<!-- docs-test: collector-stopped -->``
    a command that opens the embedded store directly: run after the collector has stopped.
``<!-- docs-test: expect "text" ["text" …] -->``
    the output must contain each text (JSON string syntax).
``<!-- docs-test: expect-error "text" -->``
    the same, for an example that shows an error answer on purpose.

Every other block must exit 0, print no ``"error":`` answer (curl examples use ``-sf``) and log
no failed export. Blocks of one page run in order in one working directory, so a file written
by one example is there for the next.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from conftest import RunningCollector, clean_env, free_port, start_collector

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LANGUAGES = {"bash", "sh", "console", "python"}
ALLOWED_SKIPS = {
    "install": "the install command: CI runs it before the tests",
    "test-suite": "the test suite itself, which is what runs this test",
    "foreground": "starts a server that runs until Ctrl-C (flightlog up, flightlog ui, streamlit); "
                  "tests/test_cli_up.py and the UI tests start them",
    "docker": "needs a Docker engine; tests/test_compose.py checks the compose files",
    "external": "needs a third-party package or service and its credentials (e.g. an OpenAI API key)",
    "benchmark": "minutes of load or fuzzing; the suite runs a small version of the same (named in the why)",
}
DOCS_URL, DOCS_GRPC = "127.0.0.1:4318", "127.0.0.1:4317"
BLOCK_TIMEOUT_S = 180
_FENCE = re.compile(r"^\s*```([\w-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass
class Block:
    page: Path
    line: int
    language: str
    code: str
    markers: list[str] = field(default_factory=list)

    @property
    def expect(self) -> list[str]:
        return [json.loads(q) for m in self.markers if m.startswith("expect") for q in _QUOTED.findall(m)]

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        skips = [m.split() for m in self.markers if m.startswith("skip")]
        return skips[0][1] if skips and len(skips[0]) > 1 else None

    @property
    def stopped(self) -> bool:
        return "collector-stopped" in self.markers

    @property
    def shows_error(self) -> bool:
        return any(m.startswith("expect-error") for m in self.markers)


def parse(page: Path) -> Iterator[Block]:
    """The fenced code blocks of a page in a runnable language, with their marker."""
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, language = i, match.group(1)
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1
        if language not in LANGUAGES:
            continue
        markers, before = [], start - 1
        while before >= 0:
            if lines[before].strip():
                match = _MARKER.match(lines[before])
                if not match:
                    break
                markers.insert(0, match.group(1))
            before -= 1
        yield Block(page, start + 1, language, "\n".join(body) + "\n", markers)


BLOCKS = [block for page in PAGES for block in parse(page)]


def test_markers_are_known_and_sit_before_a_block() -> None:
    attached = {(b.page, b.line) for b in BLOCKS}
    problems = []
    for page in PAGES:
        lines = page.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            match = _MARKER.match(line)
            if not match:
                continue
            following = next((k for k in range(n, len(lines)) if lines[k].strip() and not _MARKER.match(lines[k])), None)
            if following is None or (page, following + 1) not in attached:
                problems.append(f"{page.relative_to(ROOT)}:{n}: marker not right before a runnable code block")
                continue
            marker = match.group(1)
            kind = marker.split()[0]
            if kind == "skip":
                words = marker.split()
                if len(words) < 3 or words[1] not in ALLOWED_SKIPS:
                    problems.append(f"{page.relative_to(ROOT)}:{n}: skip needs a reason of {sorted(ALLOWED_SKIPS)} "
                                    f"and a why, got {marker!r}")
            elif kind not in ("collector-stopped", "expect", "expect-error"):
                problems.append(f"{page.relative_to(ROOT)}:{n}: unknown marker {marker!r}")
            elif kind.startswith("expect") and not _QUOTED.findall(marker):
                problems.append(f"{page.relative_to(ROOT)}:{n}: {kind} needs quoted texts")
    assert not problems, "\n".join(problems)


def test_skips_stay_rare() -> None:
    skipped = [b for b in BLOCKS if b.skip_reason]
    assert len(skipped) <= len(BLOCKS) // 4, [b.id for b in skipped]


@dataclass
class Live:
    collector: RunningCollector
    grpc: str
    env: dict[str, str]
    workdirs: dict[Path, Path]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from flightlog.collector import demo

    grpc_port = free_port()
    running = start_collector(tmp_path_factory.mktemp("docs-collector"), args=["--grpc-port", str(grpc_port)])
    try:
        for request in demo.build_demo_requests():
            resp = running.post("/v1/traces", request.SerializeToString(), "application/x-protobuf")
            assert resp.status_code == 200, resp.text
        created = httpx.post(running.url + "/api/admin/keys", timeout=30,
                             headers={"Authorization": f"Bearer {running.admin_key}"},
                             json={"project": "default", "role": "auditor", "name": "docs examples"})
        assert created.status_code == 200, created.text
        running.drain()
        bin_dir = str(Path(sys.executable).parent)
        env = {
            **clean_env(),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "INGEST_KEY": running.ingest_key, "READ_KEY": running.read_key, "ADMIN_KEY": running.admin_key,
            "AUDITOR_KEY": created.json()["key"],
            "FLIGHTLOG_DATA_DIR": str(running.data_dir),
            "FLIGHTLOG_ENDPOINT": running.url, "FLIGHTLOG_API_KEY": running.ingest_key,
            "OTEL_EXPORTER_OTLP_ENDPOINT": running.url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={running.ingest_key}",
            "PYTHONUNBUFFERED": "1",
        }
        workdirs = {page: tmp_path_factory.mktemp(re.sub(r"\W", "-", str(page.relative_to(ROOT)))) for page in PAGES}
        yield Live(running, f"127.0.0.1:{grpc_port}", env, workdirs)
    finally:
        running.stop()


def _rewrite(code: str, live: Live) -> str:
    host = live.collector.url.removeprefix("http://")
    return code.replace(DOCS_URL, host).replace(DOCS_GRPC, live.grpc)


def _console_commands(code: str) -> str:
    """The commands of a console transcript: the ``$ `` lines (with their ``\\`` continuations)."""
    out, continuing = [], False
    for line in code.splitlines():
        if line.startswith("$ ") or continuing:
            text = line[2:] if line.startswith("$ ") and not continuing else line
            out.append(text)
            continuing = text.rstrip().endswith("\\")
    return "\n".join(out) + "\n"


def run_block(block: Block, live: Live) -> None:
    code = _rewrite(block.code if block.language != "console" else _console_commands(block.code), live)
    cwd = live.workdirs[block.page]
    script = cwd / f"example-{block.line}.{'py' if block.language == 'python' else 'sh'}"
    script.write_text(code)
    command = [sys.executable, str(script)] if block.language == "python" else ["bash", "-e", "-o", "pipefail", str(script)]
    try:
        result = subprocess.run(command, cwd=cwd, env=live.env, capture_output=True, text=True,
                                timeout=BLOCK_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{block.id}: still running after {BLOCK_TIMEOUT_S}s\n{code}\nstdout: {exc.stdout!r}")
    script.with_suffix(".out").write_text(f"exit {result.returncode}\n{result.stdout}\n--- stderr\n{result.stderr}")
    report = f"{block.id} ({block.language}):\n{code}\n--- exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}" \
             f"\n--- stderr\n{result.stderr[-3000:]}"
    assert result.returncode == 0, report
    if not block.shows_error:
        assert '"error":' not in result.stdout, f"the example printed an error answer\n{report}"
    for problem in ("Traceback (most recent call last)", "Failed to export", "Exception while exporting"):
        assert problem not in result.stderr, f"the example logged {problem!r}\n{report}"
    for text in block.expect:
        assert text in result.stdout, f"expected {text!r} in the output\n{report}"


def _params(blocks: list[Block]) -> list:
    """The blocks to run: those marked not runnable are not test cases at all (their markers
    are checked by the marker tests), so the suite reports no skips."""
    return [pytest.param(b, id=b.id) for b in blocks if b.skip_reason not in ALLOWED_SKIPS]


@pytest.mark.parametrize("block", _params([b for b in BLOCKS if not b.stopped]))
def test_example_runs_against_the_live_collector(block: Block, live: Live) -> None:
    live.collector.drain()
    run_block(block, live)


@pytest.mark.parametrize("block", _params([b for b in BLOCKS if b.stopped]))
def test_example_runs_on_the_stopped_collectors_store(block: Block, live: Live) -> None:
    assert live.collector.stop() is not None
    run_block(block, live)
