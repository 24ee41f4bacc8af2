"""Imports of a command module made when the command runs, not when the CLI starts.

``iopfhir --help`` builds the parser from every command module's ``register()``; if those
modules imported the library at the top, every start would load pydantic, the validator,
the HTTP client and the terminology (about a second). A command module therefore names its
heavy dependencies in a :class:`LazyImports` table instead::

    if TYPE_CHECKING:  # what mypy and readers see; at run time the names come on first use
        from iopfhir.client import FhirClient

    _lazy = LazyImports(globals(), {"FhirClient": "iopfhir.client:FhirClient"})
    __getattr__ = _lazy.attribute  # ``module.FhirClient`` from outside (tests, monkeypatch)


    @_lazy.needed  # every name of the table is in the module before the body runs
    def run(args: argparse.Namespace) -> int: ...

A source is ``"package.module:attribute"`` or, for a whole module, ``"package.module"``.
Names given as ``deferred`` are not loaded by ``needed``: only where the code asks for them
with ``_lazy.load("FhirClient")`` (the HTTP client of ``validate --server``, say).
Loading never replaces a name the module already holds, so a test that patched
``module.FhirClient`` keeps its stand-in. Only what ``register()`` needs may be imported at
the top of a command module: the standard library and the light ``iopfhir.cli._*`` helpers
(``tests/cli/test_cli_startup.py`` checks it).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Collection, Mapping
from typing import Any, ParamSpec, TypeVar

__all__ = ["LazyImports"]

P = ParamSpec("P")
R = TypeVar("R")


class LazyImports:
    """Names of a module (``namespace``, its ``globals()``) imported on first use."""

    def __init__(
        self,
        namespace: dict[str, Any],
        sources: Mapping[str, str],
        *,
        deferred: Collection[str] = (),
    ) -> None:
        self._namespace = namespace
        self._sources = dict(sources)
        self._eager = tuple(name for name in self._sources if name not in deferred)
        self._module = str(namespace.get("__name__", "?"))

    @property
    def names(self) -> tuple[str, ...]:
        """Every listed name, deferred ones included."""
        return tuple(self._sources)

    def _import(self, name: str) -> Any:
        module, _, attribute = self._sources[name].partition(":")
        value = importlib.import_module(module)
        return getattr(value, attribute) if attribute else value

    def attribute(self, name: str) -> Any:
        """The module's ``__getattr__`` (PEP 562): a listed name, imported and kept."""
        if name not in self._sources:
            raise AttributeError(f"module {self._module!r} has no attribute {name!r}")
        return self._namespace.setdefault(name, self._import(name))

    def load(self, *names: str) -> None:
        """Import ``names`` (default: every listed name not deferred) the module lacks."""
        namespace = self._namespace
        for name in names or self._eager:
            if name not in namespace:
                namespace[name] = self._import(name)

    def needed(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate an entry point of the module: :meth:`load` runs before it."""

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            self.load()
            return func(*args, **kwargs)

        return wrapper
