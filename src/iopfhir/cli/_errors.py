"""How the command line reports a failure: one bounded line on stderr and an exit code.

* :class:`~iopfhir.errors.InputError` → 2 (bad input: the message names the file and path);
* any other :class:`~iopfhir.errors.IopFhirError` → 1;
* ``OSError`` (a disk that filled up, a file that vanished) → 1, with its reason only;
* SIGINT → 130, SIGTERM → 143 (128 + the signal, the shell convention);
* anything else is a bug of ours → 1 with ``internal error (TypeName)``: its text may hold
  anything (input content included), so it is shown only as a traceback under ``-v``.

Messages of the exception tree are written to name paths, not content; the line printed
is still made one line (control characters become spaces) and cut at
:data:`MAX_MESSAGE` characters, so nothing - however it got into a message - floods a
terminal or a log. When that cuts a message short and the error holds several issues
(every unresolved reference of a push, say), one line per issue follows (its FHIRPath
and reason, each cut alike), at most :data:`MAX_ISSUES` of them.
"""

from __future__ import annotations

from typing import TextIO

from ._signals import EXIT_SIGINT, EXIT_SIGTERM, Terminated

__all__ = ["MAX_ISSUES", "MAX_MESSAGE", "exit_code", "one_line", "print_error"]

#: Longest message printed (characters); longer ones end in "...".
MAX_MESSAGE = 400
#: Most issue lines printed after a message cut short.
MAX_ISSUES = 50
_CONTROL = {c: " " for c in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]}


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line (control characters as spaces), at most ``limit`` characters."""
    flat = " ".join(text.translate(_CONTROL).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def exit_code(exc: BaseException) -> int:
    """The exit code for a command that ended with ``exc``."""
    from iopfhir.errors import InputError  # here, not at the top: the CLI starts without it

    if isinstance(exc, InputError):
        return 2
    if isinstance(exc, Terminated):
        return EXIT_SIGTERM
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_SIGINT
    return 1


def _message(exc: BaseException) -> str:
    from iopfhir.errors import IopFhirError

    if isinstance(exc, IopFhirError):
        return str(exc)
    if isinstance(exc, Terminated):
        return "terminated"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, OSError):
        # strerror only: the filename and the rest may come from the input
        return f"{exc.strerror or type(exc).__name__}"
    return f"internal error ({type(exc).__name__})"


def print_error(exc: BaseException, err: TextIO, *, verbose: bool = False) -> int:
    """Print ``exc`` as one ``iopfhir: error: ...`` line on ``err``; return its exit code.

    With ``verbose``, an unexpected exception's traceback follows (for a bug report).
    """
    from iopfhir.errors import IopFhirError

    if verbose and not isinstance(exc, (IopFhirError, OSError, KeyboardInterrupt, Terminated)):
        import traceback

        traceback.print_exception(exc, file=err)
    prefix = "iopfhir: " if isinstance(exc, (KeyboardInterrupt, Terminated)) else "iopfhir: error: "
    message = one_line(_message(exc))
    print(prefix + message, file=err)
    issues = exc.issues if isinstance(exc, IopFhirError) else []
    if message.endswith("...") and len(issues) > 1:
        for issue in issues[:MAX_ISSUES]:
            where = f"{issue.path}: " if issue.path else ""
            print("iopfhir:   " + one_line(where + issue.message), file=err)
        if len(issues) > MAX_ISSUES:
            print(f"iopfhir:   and {len(issues) - MAX_ISSUES} more", file=err)
    err.flush()
    return exit_code(exc)
