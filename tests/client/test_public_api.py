"""The public surface of ``iopfhir.client`` is exactly ``__all__``, and the layer imports
nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import iopfhir.client as client_pkg

SRC = Path(__file__).resolve().parents[2] / "src" / "iopfhir"


def test_all_equals_the_public_names():
    public = {name for name in vars(client_pkg) if not name.startswith("_")}
    modules = {
        "aio",
        "auth",
        "client",
        "memory",
        "outcome",
        "redact",
        "requests_transport",
        "retry",
        "search",
        "security",
        "smart",
        "transport",
    }
    assert set(client_pkg.__all__) == public - modules
    for name in client_pkg.__all__:
        assert getattr(client_pkg, name) is not None


def test_client_layer_imports_only_errors_from_the_package():
    files = [
        *(SRC / "client").glob("*.py"),
        SRC / "plugins.py",
        *(SRC / "client_httpx").glob("*.py"),
    ]
    allowed = {"iopfhir.errors", "iopfhir.client", "iopfhir"}
    for file in files:
        tree = ast.parse(file.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mod = node.module
            elif isinstance(node, ast.Import):
                mod = node.names[0].name
            else:
                continue
            if mod.startswith("iopfhir"):
                assert mod in allowed or mod.startswith("iopfhir.client."), (file.name, mod)
                if mod == "iopfhir":
                    names = {a.name for a in node.names}  # type: ignore[union-attr]
                    assert names <= {"plugins"}, (file.name, names)
