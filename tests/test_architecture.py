"""The package's shape: layers and acyclicity (import-linter), module and class sizes.

The import-linter contracts live in ``pyproject.toml`` (``[tool.importlinter]``). They are
run here on the real tree, and on a copy of the tree with a deliberate violation, so a
contract that could never fail (a typo in a layer name, a tool that sees nothing) fails
this test instead of passing silently.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "iopfhir"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400


def _lint_imports(project: Path, src: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with ``project``'s pyproject.toml, importing the package from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project's package and pyproject.toml, to break on purpose."""
    project = tmp_path_factory.mktemp("arch")
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    shutil.copytree(SRC, project / "src" / "iopfhir", ignore=shutil.ignore_patterns("*.pyc"))
    return project


def _with_lines(project: Path, name: str, lines: dict[str, str]) -> Path:
    """A fresh copy of ``project`` where each module (a path under src/) gets its line."""
    broken = project.parent / f"{project.name}-{name}"
    shutil.copytree(project, broken)
    for module, line in lines.items():
        path = broken / "src" / module
        text = path.read_text(encoding="utf-8")
        # after the module docstring and the __future__ import, so the file stays valid
        marker = "from __future__ import annotations\n"
        assert marker in text, f"{module} has no __future__ import to anchor the test line"
        path.write_text(text.replace(marker, marker + line + "\n", 1), encoding="utf-8")
    return broken


def test_contracts_hold_on_the_tree() -> None:
    result = _lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_a_lower_layer_importing_a_higher_one_fails(tree_copy: Path) -> None:
    broken = _with_lines(
        tree_copy, "upward", {"iopfhir/domain/common.py": "import iopfhir.sync.push"}
    )
    result = _lint_imports(broken, broken / "src")
    assert result.returncode != 0
    assert "iopfhir.domain.common -> iopfhir.sync.push" in result.stdout
    assert "layers:" in result.stdout and "BROKEN" in result.stdout


def test_a_function_level_import_upward_fails(tree_copy: Path) -> None:
    # a lazy import inside a function is still a dependency
    broken = _with_lines(
        tree_copy,
        "lazy",
        {
            "iopfhir/fhir/conventions.py": "def _late() -> object:\n"
            "    from iopfhir.validation import Validator\n\n    return Validator\n"
        },
    )
    result = _lint_imports(broken, broken / "src")
    assert result.returncode != 0
    assert "iopfhir.fhir.conventions -> iopfhir.validation" in result.stdout


def test_a_cycle_inside_a_layer_fails(tree_copy: Path) -> None:
    # two modules of one layer importing each other: the layers contract allows it, the
    # acyclic contract must not
    broken = _with_lines(
        tree_copy,
        "cycle",
        {
            "iopfhir/terminology/codes.py": "from iopfhir.terminology import instruments",
            "iopfhir/terminology/instruments.py": "from iopfhir.terminology import codes",
        },
    )
    result = _lint_imports(broken, broken / "src")
    assert result.returncode != 0, result.stdout
    assert "No cycles are allowed in iopfhir.terminology" in result.stdout


def _python_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_and_class_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= MAX_MODULE_LINES, f"{lines} lines (limit {MAX_MODULE_LINES})"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"class {node.name}: {size} lines"


def test_every_package_module_has_a_docstring() -> None:
    missing = [
        str(path.relative_to(SRC))
        for path in _python_files()
        if path.name != "__main__.py" and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert missing == []
