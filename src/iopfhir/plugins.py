"""One small plugin registry over ``importlib.metadata`` entry points.

Groups used by the package:

* ``iopfhir.transports`` — factories ``(**options) -> Transport`` (``requests``, ``httpx``,
  ``memory``...);
* ``iopfhir.auth`` — auth-method classes (``none``, ``bearer``, ``basic``,
  ``smart-backend``).

The package registers its own built-ins through the same entry points (see
``pyproject.toml``). Discovery reads each group once per :class:`Registry`, skips exact
duplicates (the same distribution seen twice on ``sys.path``), records which
distribution provided each plugin, and reports a name claimed by two different objects
as ambiguous. :func:`get` and :func:`available` use a module-level registry;
:func:`reset` drops its cache (tests fake ``importlib.metadata`` and call it).

This module imports only :mod:`iopfhir.errors` from the package.
"""

from __future__ import annotations

import importlib.metadata
import threading
from dataclasses import dataclass, field
from typing import Any

from iopfhir.errors import PluginError

__all__ = ["GROUPS", "Plugin", "Registry", "available", "get", "reset"]

GROUPS = ("iopfhir.transports", "iopfhir.auth")


@dataclass(frozen=True, slots=True)
class Plugin:
    """One discovered entry point: its name, target (``module:attr``) and provider."""

    group: str
    name: str
    value: str
    distribution: str | None
    entry_point: importlib.metadata.EntryPoint = field(compare=False, repr=False)

    def load(self) -> Any:
        """Import and return the plugin object."""
        try:
            return self.entry_point.load()
        except Exception as exc:  # an entry point may fail in any way while importing
            raise PluginError(
                f"plugin {self.name!r} in {self.group} ({self.value}, from "
                f"{self.distribution or 'unknown distribution'}) failed to load: "
                f"{type(exc).__name__}"
            ) from exc


class Registry:
    """Entry points by group, discovered lazily and cached."""

    def __init__(self) -> None:
        self._groups: dict[str, tuple[dict[str, Plugin], dict[str, list[Plugin]]]] = {}
        self._lock = threading.Lock()

    def _discover(self, group: str) -> tuple[dict[str, Plugin], dict[str, list[Plugin]]]:
        with self._lock:
            if group in self._groups:
                return self._groups[group]
            found: dict[str, Plugin] = {}
            conflicts: dict[str, list[Plugin]] = {}
            for ep in importlib.metadata.entry_points(group=group):
                dist = getattr(ep, "dist", None)
                plugin = Plugin(group, ep.name, ep.value, dist.name if dist else None, ep)
                seen = found.get(ep.name)
                if seen is None:
                    found[ep.name] = plugin
                elif seen.value != plugin.value:
                    conflicts.setdefault(ep.name, [seen]).append(plugin)
                # else: the same target again (duplicate path entry): skip it
            self._groups[group] = (found, conflicts)
            return found, conflicts

    def plugins(self, group: str) -> dict[str, Plugin]:
        """Every plugin of ``group`` by name (the first seen for an ambiguous name)."""
        return dict(self._discover(group)[0])

    def available(self, group: str) -> list[str]:
        """The sorted plugin names of ``group``."""
        return sorted(self._discover(group)[0])

    def get(self, group: str, name: str) -> Any:
        """Load the plugin ``name`` of ``group``; :class:`PluginError` if missing or ambiguous."""
        found, conflicts = self._discover(group)
        if name in conflicts:
            providers = ", ".join(
                f"{p.value} ({p.distribution or 'unknown'})" for p in conflicts[name]
            )
            raise PluginError(f"plugin {name!r} in {group} is ambiguous: {providers}")
        plugin = found.get(name)
        if plugin is None:
            known = ", ".join(sorted(found)) or "none"
            raise PluginError(f"no plugin {name!r} in {group} (available: {known})")
        return plugin.load()

    def clear(self) -> None:
        """Forget what was discovered."""
        with self._lock:
            self._groups.clear()


_registry = Registry()


def get(group: str, name: str) -> Any:
    """Load plugin ``name`` of entry-point group ``group``."""
    return _registry.get(group, name)


def available(group: str) -> list[str]:
    """Names of the plugins in ``group``."""
    return _registry.available(group)


def reset() -> None:
    """Drop the module registry's cache (after installing plugins, or in tests)."""
    _registry.clear()
