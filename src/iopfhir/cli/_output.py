"""Where the commands write: output paths checked up front, atomic replacement, one mode rule.

Every command that writes (``convert``, ``import``, ``synth``, ``pull``, ``demo``) calls
:func:`check_file_target` or :func:`check_dir_target` on its output *before* reading or
converting anything, so a path that cannot work is an exit 2 in the first millisecond,
not after a minute of work.

Writers:

* :func:`write_bytes` / :func:`atomic_file` - a file is written to a temporary sibling and
  renamed into place;
* :func:`atomic_dir` - a directory is filled under a temporary sibling and swapped in.

On any error - including the :class:`~iopfhir.cli._signals.Terminated` raised by SIGTERM
and the ``KeyboardInterrupt`` of SIGINT - the temporary is removed, a parent folder the
writer created is removed again, and the previous output (if any) stays as it was. An
existing output is only ever replaced by the same kind (a file by a file, a folder by a
folder).

Outputs hold patient data, so one permission rule holds for every command regardless of
the umask: files 0600, folders 0700.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from iopfhir.errors import InputError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "atomic_dir",
    "atomic_file",
    "check_dir_target",
    "check_file_target",
    "write_bytes",
]

FILE_MODE = 0o600
DIR_MODE = 0o700
_STDOUT = (None, "-")
# Deferred while an output is swapped in: a signal between the two renames would leave
# the old output moved aside and the new one not yet in place.
_DEFERRED = {signal.SIGINT, signal.SIGTERM}


def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and not current.is_symlink():
        if current.parent == current:
            break
        current = current.parent
    return current


def _check_place(path: Path, option: str) -> None:
    """The folder that will hold ``path`` exists or can be created, and is writable."""
    parent = path.parent
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise InputError("the output cannot be created there (a file is in the way)", path=option)
    # A probe, not os.access: access() says yes to root on a read-only mount, and no to
    # some ACLs that would in fact allow the write.
    try:
        fd, probe = tempfile.mkstemp(prefix=".iopfhir-probe.", dir=base)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"the output cannot be written there ({reason})", path=option) from exc
    os.close(fd)
    os.unlink(probe)


def check_file_target(target: str | os.PathLike[str] | None) -> None:
    """Raise :class:`InputError` (naming the path) unless a file can be written at ``target``.

    ``None`` and ``-`` mean stdout: always fine. An existing folder is refused (it is
    never replaced by a file).
    """
    if target in _STDOUT:
        return
    path = Path(str(target))
    option = str(target)
    if path.is_dir():
        raise InputError("is a folder; a file is wanted here", path=option)
    if path.exists() and not path.is_file():
        raise InputError("is not a regular file; a file is wanted here", path=option)
    _check_place(path, option)


def check_dir_target(target: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` (naming the path) unless a folder can be written at ``target``.

    An existing file is refused (it is never replaced by a folder).
    """
    path = Path(target)
    option = str(target)
    if path.exists() and not path.is_dir():
        raise InputError("is a file; a folder is wanted here", path=option)
    _check_place(path, option)


@contextmanager
def _created_parents(path: Path) -> Iterator[None]:
    """Create ``path.parent`` (0700 for what is new); remove what was created on an error."""
    missing: list[Path] = []
    current = path.parent
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE)
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    try:
        yield
    except BaseException:
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for a few renames (delivered right after)."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    except (AttributeError, OSError, ValueError):  # not a POSIX main thread
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``target`` (mode 0600) when the block succeeds."""
    path = Path(target)
    check_file_target(path)
    with _created_parents(path):
        tmp: str | None = None
        try:
            # made and opened with signals held back: a SIGTERM right after the file
            # appears (before it has a name here) would leave it behind
            with _signals_deferred():
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
                handle = os.fdopen(fd, "wb")
            with handle:
                yield handle
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            raise


def write_bytes(target: str | os.PathLike[str] | None, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (0600), or to stdout when it is None/``-``."""
    if target in _STDOUT:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    assert target is not None
    with atomic_file(target) as handle:
        handle.write(data)


def _restrict(root: Path) -> None:
    """0700 on ``root`` and every folder below it, 0600 on every file."""
    os.chmod(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(folder, name), FILE_MODE)


@contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``target`` (0700, files 0600) on success."""
    path = Path(target)
    check_dir_target(path)
    with _created_parents(path):
        tmp: Path | None = None
        try:
            with _signals_deferred():  # as in atomic_file: never a folder left unnamed
                tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
            yield tmp
            _restrict(tmp)
            _swap_in(tmp, path)
        except BaseException:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise


def _swap_in(tmp: Path, path: Path) -> None:
    with _signals_deferred():
        if not path.is_dir():
            tmp.rename(path)
            return
        # a unique name: never collides with (or deletes) anything the user has
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
        old.rmdir()
        path.rename(old)
        try:
            tmp.rename(path)
        except BaseException:
            old.rename(path)
            raise
        shutil.rmtree(old, ignore_errors=True)
