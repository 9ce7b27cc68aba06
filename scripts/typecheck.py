"""Type-check the flightlog packages with mypy, as Python imports them.

pyproject.toml maps folders into one namespace (``sdk/`` is ``flightlog``, ``collector/`` is
``flightlog.collector``, ``storage/`` is ``flightlog.storage``, ``ui/`` is ``flightlog.ui``),
which mypy cannot follow from the source tree. This script builds that namespace as a tree of
symlinks in a temporary directory and runs mypy on it with the ``[tool.mypy]`` settings of
pyproject.toml; error paths are shown relative to the checkout.

    python scripts/typecheck.py            # sdk, storage and collector
    python scripts/typecheck.py ui         # or name the parts to check
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = {"sdk": "flightlog", "storage": "flightlog.storage", "collector": "flightlog.collector",
         "ui": "flightlog.ui"}
DEFAULT = ("sdk", "storage", "collector")


def build_tree(base: Path) -> Path:
    package = base / "flightlog"
    package.mkdir()
    for path in (ROOT / "sdk").iterdir():
        if path.suffix in (".py", ".typed") or path.name == "py.typed":
            (package / path.name).symlink_to(path)
    for folder in ("collector", "storage", "ui"):
        (package / folder).symlink_to(ROOT / folder, target_is_directory=True)
    return package


def main(argv: list[str]) -> int:
    parts = argv or list(DEFAULT)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"unknown part(s) {unknown}; choose from {sorted(PARTS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="flightlog-mypy-") as tmp:
        package = build_tree(Path(tmp))
        targets = []
        for part in parts:
            if part == "sdk":  # the SDK's own modules, not the subpackages under flightlog/
                targets += ["-m", "flightlog"] + [
                    arg for p in sorted((ROOT / "sdk").glob("*.py")) if p.stem != "__init__"
                    for arg in ("-m", f"flightlog.{p.stem}")]
            else:
                targets += ["-p", PARTS[part]]
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *targets],
            cwd=tmp, capture_output=True, text=True,
        )
        out = (result.stdout + result.stderr).replace(f"{package}/", "").replace("flightlog/", "")
        # Paths like "collector/api/deps.py" (folders) and "_run.py" (sdk/) read as in the checkout.
        print("\n".join(line if not line.startswith("_") else "sdk/" + line for line in out.splitlines()))
        return result.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
