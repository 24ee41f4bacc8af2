"""MkDocs hooks: the command-line page is generated from the parser; Sphinx roles in
docstrings render as plain code.

``<!-- cli-help -->`` in a page is replaced by ``iopfhir --help`` and the help of every
subcommand, generated from the argument parser itself, so the page cannot drift from the
code.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

MARKER = "<!-- cli-help -->"

# The docstrings use Sphinx roles (:class:`~a.b.C`); mkdocstrings renders them as the role
# name followed by a code span. Keep the code span, drop the role, and shorten `~a.b.C` to
# `C` as Sphinx does.
_ROLE = re.compile(r":(?:class|func|mod|meth|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    shown = target.rsplit(".", 1)[-1] if tilde else target
    return f"<code>{shown}</code>"


def _help_sections() -> str:
    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal width: fix it
    from iopfhir.cli import build_parser

    parser = build_parser()
    parts = ["## iopfhir", "", "```text", parser.format_help().rstrip(), "```", ""]
    for action in parser._actions:  # argparse has no public accessor for subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                parts += [f"## iopfhir {name}", "", "```text", sub.format_help().rstrip()]
                parts += ["```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, _help_sections())


def on_page_content(html: str, **_: Any) -> str:
    return _ROLE.sub(_role, html)
