"""Copy the reference pages of docs/ into README.md, so the README documents everything.

README.md keeps its own introduction and operating sections; each section named below is
replaced by the current text of its docs/ page (headings shifted so the page's title becomes
a ``##`` section), so the two never drift. Run after editing a docs/ page:
``python scripts/assemble_readme.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (docs page, its heading in README, README heading it goes before when first added)
SECTIONS = [
    ("sdk.md", "## The SDK (`import flightlog`)", "## Query API"),
    ("ui.md", "## The UI", "## Projects, keys and roles"),
    ("audit.md", "## Audit and governance", "## Team deployment (docker compose)"),
    ("storage.md", "## Storage", "## Team deployment (docker compose)"),
]
_HEADING = re.compile(r"^(#+) ")


def as_section(text: str, title: str) -> str:
    """The page with its first heading replaced by ``title`` and the others shifted to match."""
    out, in_code, shift = [], False, None
    for line in text.strip().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            level = len(match.group(1))
            if shift is None:
                shift = 2 - level
                out.append(title)
                continue
            line = "#" * (level + shift) + line[level:]
        out.append(line)
    return "\n".join(out) + "\n\n"


def main() -> None:
    readme = (ROOT / "README.md").read_text()
    for page, title, before in SECTIONS:
        body = as_section((ROOT / "docs" / page).read_text(), title)
        lines = readme.splitlines(keepends=True)
        starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == title]
        if starts:
            i = starts[0]
            j, in_code = i + 1, False
            while j < len(lines):
                if lines[j].startswith("```"):
                    in_code = not in_code
                if not in_code and lines[j].startswith("## "):
                    break
                j += 1
            readme = "".join(lines[:i]) + body + "".join(lines[j:])
        else:
            at = readme.index(before)
            readme = readme[:at] + body + readme[at:]
    (ROOT / "README.md").write_text(readme)


if __name__ == "__main__":
    main()
