"""README.md starts with the two set-up commands; the docs site documents every setting,
command and FLIGHTLOG_* variable; no page cites anything outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from flightlog.collector.cli import main
from flightlog.collector.config import setting_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = {p: p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]}
DOCS = "\n".join(PAGES.values())
SETTINGS_PAGE = (ROOT / "docs" / "reference" / "settings.md").read_text()
CLI_PAGE = (ROOT / "docs" / "reference" / "cli.md").read_text()


def test_readme_starts_with_the_run_and_test_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert blocks[0].strip() == "pip install -e '.[all]' && flightlog up --demo"
    assert blocks[1].strip() == "bash scripts/install-test-deps.sh && python -m pytest -n auto --dist loadfile"
    assert README.index(blocks[0]) < README.index("## "), "the two commands come before any section"
    assert blocks[1].strip() in (ROOT / ".ci" / "run").read_text()


def test_readme_is_short_and_copies_no_docs_page() -> None:
    assert 150 <= len(README.splitlines()) <= 250
    assert not (ROOT / "scripts" / "assemble_readme.py").exists()
    for path, text in PAGES.items():
        if path.name == "README.md":
            continue
        paragraphs = [p for p in text.split("\n\n") if len(p) > 300 and not p.lstrip().startswith(("|", "```", "<!--"))]
        copied = [p[:80] for p in paragraphs if p in README]
        assert not copied, f"README.md copies {path.relative_to(ROOT)}: {copied}"


@pytest.mark.parametrize("name,env,default,help", setting_table(), ids=[s[0] for s in setting_table()])
def test_every_setting_is_in_the_settings_reference(name: str, env: str, default: str, help: str) -> None:
    assert f"`--{name.replace('_', '-')}`" in SETTINGS_PAGE and f"`{env}`" in SETTINGS_PAGE


def _command_paths(group: click.Group, prefix: str) -> list[str]:
    out = []
    for name, command in group.commands.items():
        out.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            out += _command_paths(command, f"{prefix} {name}")
    return out


def test_every_cli_command_is_in_the_cli_reference() -> None:
    missing = [path for path in _command_paths(main, "flightlog") if f"## {path}\n" not in CLI_PAGE]
    assert not missing, missing


def test_every_flightlog_env_var_in_the_code_is_documented() -> None:
    names = set()
    for folder in ("sdk", "collector", "storage", "ui"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"\bFLIGHTLOG_[A-Z_]+\b", path.read_text()))
    undocumented = sorted(n for n in names if f"`{n}`" not in DOCS)
    assert not undocumented, f"not documented in docs/ or README.md: {undocumented}"


def test_pages_cite_nothing_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|\bshared/|STYLE D\d|\bDESIGN\.md|\bSTYLE\.md|internals\.md|§")
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p, text in PAGES.items() for m in outside.finditer(text)]
    assert not found, found


def test_docs_paths_named_anywhere_exist() -> None:
    """Code comments, configs and the README name docs pages by path: each must exist."""
    files = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".sql", ".yml", ".yaml", ".toml", ".md", ".sh"}
             and not any(part.startswith(".") or part.endswith(".egg-info") or part in {"site", "build"}
                         for part in p.relative_to(ROOT).parts)]
    missing = []
    for path in files:
        for name in re.findall(r"\bdocs/[\w./-]+\.md\b", path.read_text(errors="replace")):
            if not (ROOT / name).exists():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing


def test_readme_links_point_at_existing_pages() -> None:
    targets = re.findall(r"\]\(((?!https?:|#)[^)#]+)(?:#[^)]*)?\)", README)
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert targets and not missing, missing
