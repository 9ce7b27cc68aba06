"""The README documents every setting, environment variable, command and the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flightlog.collector.cli import main
from flightlog.collector.config import setting_table

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_run_and_test_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert blocks[0].strip() == "pip install -e '.[all]' && flightlog up --demo"
    assert blocks[1].strip() == "bash scripts/install-test-deps.sh && python -m pytest"
    assert README.index(blocks[0]) < README.index("## "), "the two commands come before any section"
    assert blocks[1].strip() in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("name,env,default,help", setting_table(), ids=[s[0] for s in setting_table()])
def test_every_setting_is_documented(name: str, env: str, default: str, help: str) -> None:
    assert f"`--{name.replace('_', '-')}`" in README and f"`{env}`" in README


def test_every_cli_command_is_documented() -> None:
    for command in main.commands:
        assert f"flightlog {command}" in README, command


def test_every_flightlog_env_var_in_the_code_is_documented() -> None:
    names = set()
    for folder in ("sdk", "collector", "storage", "ui"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r"\bFLIGHTLOG_[A-Z_]+\b", path.read_text()))
    undocumented = sorted(n for n in names if n not in README)
    assert not undocumented, f"not in README.md: {undocumented}"
