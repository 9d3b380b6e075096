"""The sandbox is Marketo, not a mirror of the tap: it imports nothing from the rest of the package.

Read from the source with ast (no import runs), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import tap_marketo_bulk.sandbox

SANDBOX_DIR = Path(tap_marketo_bulk.sandbox.__file__).parent


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in a file: level 0 absolute, 1 `.x`, 2 `..x`, ..."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            found.append((0, ast.unparse(node.args[0]) if node.args else "?"))
    return found


def outside_imports(path: Path) -> list[str]:
    """Imports of `path` reaching beyond the sandbox package and the standard library."""
    bad = []
    for level, module in imported_modules(path):
        if level == 1:
            continue  # a sibling sandbox module
        if level > 1:
            bad.append(f"{'.' * level}{module}")
        elif module.split(".")[0] == "tap_marketo_bulk":
            if not module.startswith("tap_marketo_bulk.sandbox"):
                bad.append(module)
        elif module.split(".")[0] not in sys.stdlib_module_names and module != "__future__":
            bad.append(module)
    return bad


def test_sandbox_modules_import_only_the_sandbox_and_the_standard_library() -> None:
    files = sorted(SANDBOX_DIR.rglob("*.py"))
    assert len(files) >= 15
    offenders = {f.name: outside_imports(f) for f in files if outside_imports(f)}
    assert offenders == {}


def test_the_check_sees_imports_from_the_tap(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import json\nfrom . import values\nfrom ..records import schema\n"
        "from tap_marketo_bulk.records.schema import json_schema_for\n"
        "import tap_marketo_bulk.sandbox.values\nimport requests\n"
        "def f():\n    from tap_marketo_bulk import tap\n"
    )
    assert outside_imports(sample) == [
        "..records",
        "tap_marketo_bulk.records.schema",
        "requests",
        "tap_marketo_bulk",
    ]
