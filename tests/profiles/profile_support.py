"""Helpers of the profile tests: paths, the generated package, the build tool as a module."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "profiles" / "package"
BASE = "https://iopfhir.org/fhir"
DATA = Path(__file__).resolve().parent / "data"


def load_package() -> dict[str, dict[str, Any]]:
    """Every resource of the package by file name (package.json and .index.json excluded)."""
    out = {}
    for path in sorted(PACKAGE.glob("*.json")):
        if path.name in ("package.json", ".index.json"):
            continue
        out[path.name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def build_tool() -> ModuleType:
    """``tools/build_profiles.py`` as a module (its functions need no npm or network)."""
    name = "iopfhir_build_profiles"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "build_profiles.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
