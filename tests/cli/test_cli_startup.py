"""The command line starts without the heavy part of the library (issue 11, point 5).

``iopfhir --version``, ``--help`` and ``CMD --help`` run in a fresh interpreter; the test
looks at ``sys.modules`` afterwards: none of pydantic, yaml, jsonschema, requests, orjson,
fhir.resources, the validator, the terminology or any iopfhir package outside the CLI may
have been imported. No timing here (benchmarks/bench_startup.py measures it); what keeps
the start fast is what is not imported.

The command modules name their heavy imports in a :class:`~iopfhir.cli._lazy.LazyImports`
table; the tests below check that every entry resolves, and that no name imported only for
the type checker is used at run time (it would be a ``NameError`` when the command runs).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iopfhir.cli import SUBCOMMANDS, build_parser
from iopfhir.cli._lazy import LazyImports

SRC = Path(__file__).resolve().parents[2] / "src" / "iopfhir"

#: Third-party packages that cost the start its seconds (top-level names).
HEAVY_THIRD_PARTY = {
    "pydantic",
    "pydantic_core",
    "yaml",
    "jsonschema",
    "fastjsonschema",
    "requests",
    "urllib3",
    "httpx",
    "orjson",
    "fhir",  # fhir.resources
    "fhirpathpy",
    "jwt",
    "cryptography",
    "tqdm",
}

#: Run ``main(argv)`` and write the exit code and the imported module names to a file (the
#: help goes to stdout, which stays out of the way).
WRAPPER = """
import json, sys
from iopfhir.cli import main
argv, report = json.loads(sys.argv[1]), sys.argv[2]
try:
    code = main(argv)
except SystemExit as exc:
    code = exc.code
with open(report, "w") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""


def _commands() -> list[str]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    raise AssertionError("the parser has no subcommands")


def _start(argv: list[str], tmp_path: Path) -> tuple[int, set[str], str]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(argv), str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    return data["code"], set(data["modules"]), done.stdout


def _heavy(modules: set[str], *, allowed: tuple[str, ...] = ()) -> list[str]:
    """The heavy modules among ``modules``: third-party ones above, and the library
    outside the CLI (``iopfhir`` itself holds only the version)."""
    found = []
    for name in modules:
        top = name.split(".")[0]
        if top in HEAVY_THIRD_PARTY or (
            top == "iopfhir"
            and name != "iopfhir"
            and not name.startswith(("iopfhir.cli", *allowed))
        ):
            found.append(name)
    return sorted(found)


def test_every_command_is_checked() -> None:
    # the list below must follow the parser: a new command is checked too
    assert set(_commands()) >= {"convert", "import", "validate", "synth", "push", "pull"}


def test_version_imports_nothing_of_the_library(tmp_path: Path) -> None:
    code, modules, out = _start(["--version"], tmp_path)
    assert code == 0
    assert out.startswith("iopfhir ")
    assert _heavy(modules) == []
    # beyond the version: the CLI's own modules only
    assert {m for m in modules if m.startswith("iopfhir")} <= {"iopfhir"} | {
        m for m in modules if m.startswith("iopfhir.cli")
    }
    assert "iopfhir.errors" not in modules
    # answered before the parser is built: no command's module
    assert not [
        m for m in modules if m.startswith("iopfhir.cli.") and m.split(".")[2] in SUBCOMMANDS
    ]


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    code, modules, out = _start(["--help"], tmp_path)
    assert code == 0
    for command in _commands():
        assert command in out
    assert _heavy(modules) == []
    assert "iopfhir.errors" not in modules


@pytest.mark.parametrize("command", _commands())
def test_command_help_imports_nothing_heavy(command: str, tmp_path: Path) -> None:
    code, modules, out = _start([command, "--help"], tmp_path)
    assert code == 0
    assert f"iopfhir {command}" in out
    # the questionnaires help lists the instrument ids: the instrument catalogue (standard
    # library and package JSON) is read for it, and nothing else
    allowed = ("iopfhir.terminology", "iopfhir.errors") if command == "questionnaires" else ()
    assert _heavy(modules, allowed=allowed) == []


def test_questionnaires_help_still_lists_the_instruments(tmp_path: Path) -> None:
    from iopfhir.terminology import instruments

    _, _, out = _start(["questionnaires", "--help"], tmp_path)
    flat = " ".join(out.split())
    assert ", ".join(sorted(instruments())) in flat


def test_a_command_that_runs_loads_what_it_needs(tmp_path: Path) -> None:
    # the other side of the coin: the lazy names arrive when the command runs
    out = tmp_path / "q.json"
    code, modules, _ = _start(["questionnaires", "phq-9", "-o", str(out)], tmp_path)
    assert code == 0
    assert "iopfhir.fhir.build" in modules
    assert json.loads(out.read_text())["entry"][0]["resource"]["resourceType"] == "Questionnaire"


# -- the lazy import tables --------------------------------------------------------------------


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_lazy_name_resolves(name: str) -> None:
    module = importlib.import_module(f"iopfhir.cli.{name}")
    lazy = module._lazy
    assert isinstance(lazy, LazyImports)
    for attr in lazy.names:
        assert getattr(module, attr) is not None, attr


def _type_checking_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            for item in ast.walk(node):
                if isinstance(item, (ast.Import, ast.ImportFrom)):
                    names |= {(a.asname or a.name).split(".")[0] for a in item.names}
    return names


def _annotation_nodes(tree: ast.Module) -> set[int]:
    """ids of every node inside an annotation (strings at run time: never evaluated)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(inner) for root in roots for inner in ast.walk(root)}


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_names_only_the_type_checker_sees_are_not_used_at_run_time(name: str) -> None:
    module = importlib.import_module(f"iopfhir.cli.{name}")
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    checked_only = _type_checking_names(tree) - set(module._lazy.names)
    in_annotations = _annotation_nodes(tree)
    used = sorted(
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and node.id in checked_only
        and id(node) not in in_annotations
    )
    assert used == [], f"{name}: add these to the _lazy table: {used}"


def test_the_check_above_finds_a_missing_entry() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from iopfhir.client import FhirClient\n"
        "def f(c: FhirClient) -> FhirClient:\n"
        "    return FhirClient(c)\n"
    )
    tree = ast.parse(source)
    assert _type_checking_names(tree) == {"FhirClient"}
    inside = _annotation_nodes(tree)
    loads = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "FhirClient"]
    assert len(loads) == 3 and sum(id(n) not in inside for n in loads) == 1


# -- LazyImports itself ------------------------------------------------------------------------


def _namespace() -> tuple[dict[str, Any], LazyImports]:
    ns: dict[str, Any] = {"__name__": "fake"}
    lazy = LazyImports(
        ns,
        {"dumps": "json:dumps", "textwrap": "textwrap", "later": "json:loads"},
        deferred={"later"},
    )
    return ns, lazy


def test_lazy_loads_listed_names_on_first_use() -> None:
    ns, lazy = _namespace()
    assert "dumps" not in ns

    @lazy.needed
    def use() -> str:
        return str(ns["dumps"]([1]))

    assert use() == "[1]"
    assert ns["textwrap"] is importlib.import_module("textwrap")
    assert "later" not in ns  # deferred: only on request
    lazy.load("later")
    assert ns["later"] is json.loads


def test_lazy_keeps_a_name_the_module_already_holds() -> None:
    ns, lazy = _namespace()
    ns["dumps"] = stand_in = object()
    lazy.load()
    assert ns["dumps"] is stand_in
    assert lazy.attribute("dumps") is stand_in


def test_lazy_attribute_refuses_unlisted_names() -> None:
    _, lazy = _namespace()
    with pytest.raises(AttributeError, match="nothing"):
        lazy.attribute("nothing")
    assert lazy.attribute("later") is json.loads


def test_a_patched_command_attribute_survives_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    import iopfhir.cli.questionnaires as q

    calls: list[object] = []
    monkeypatch.setattr(q, "questionnaires", lambda ids: calls.append(ids) or [])
    args = argparse.Namespace(ids=[], output="-", format="ndjson")
    assert q.run(args) == 0
    assert calls == [None]


def test_import_iopfhir_is_light_and_exports_lazily(tmp_path: Path) -> None:
    code = (
        "import sys, iopfhir\n"
        "before = sorted(m for m in sys.modules if m.startswith('iopfhir'))\n"
        "assert 'InputError' in dir(iopfhir)\n"
        "from iopfhir.errors import InputError\n"
        "assert iopfhir.InputError is InputError\n"
        "print(before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['iopfhir']"
    import iopfhir

    with pytest.raises(AttributeError):
        _ = iopfhir.no_such_name  # type: ignore[attr-defined]
