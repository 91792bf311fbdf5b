"""Files as a source: a file, a folder (walked recursively, streaming) or a glob.

The walk is lazy: one directory's entries at a time, never the whole tree, so a
folder of a million files costs no more memory than a folder of ten. Entries
that cannot even be described (broken symlinks, names that are not valid
UTF-8) become submissions that carry their error, so they end as ``rejected``
jobs with a reason instead of stopping the batch.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterator, Sequence

from pydantic import BaseModel

from parcelflow.core.pipeline import RunContext, Stage, StageInput, Submission
from parcelflow.errors import ConfigError, PermanentError

__all__ = [
    "IDENTIFY_FILE",
    "display_path",
    "file_key",
    "file_submissions",
    "read_file",
    "rejection_key",
]

_GLOB_CHARS = frozenset("*?[")


def display_path(path: str) -> str:
    """``path`` as text that survives any database: undecodable bytes become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def rejection_key(source: str) -> str:
    """Key of a job rejected before its content could be read: a digest of its name."""
    return "source:" + hashlib.sha256(source.encode()).hexdigest()


def file_submissions(
    specs: Sequence[str], _options: BaseModel | None = None, _context: RunContext | None = None
) -> Iterator[Submission]:
    """Yield one submission per regular file named by ``specs``, lazily.

    Raises:
        ConfigError: a spec names nothing (no such file, folder, or glob match).
    """
    for spec in specs:
        _check_exists(spec)
    return (item for spec in specs for item in _expand(spec))


def _check_exists(spec: str) -> None:
    if os.path.lexists(spec):
        return
    if not any(ch in _GLOB_CHARS for ch in spec):
        raise ConfigError(f"no such file or folder: {spec}")
    if next(glob.iglob(spec, recursive=True), None) is None:
        raise ConfigError(f"no file matches {spec!r}")


def _expand(spec: str) -> Iterator[Submission]:
    if os.path.lexists(spec):
        yield from _entry(spec)
        return
    for path in glob.iglob(spec, recursive=True):
        yield from _entry(path)


def _entry(path: str) -> Iterator[Submission]:
    if os.path.isdir(path) and not os.path.islink(path):
        yield from _walk(path)
    else:
        yield _describe(path)


def _walk(root: str) -> Iterator[Submission]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError as exc:
            yield _failed(folder, "unreadable", f"cannot list folder: {exc.strerror}")
            continue
        subfolders = []
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.path)
                else:
                    yield _describe(entry.path)
        # Sorted, reversed onto the stack: a deterministic depth-first order.
        stack.extend(sorted(subfolders, reverse=True))


def _describe(path: str) -> Submission:
    source = display_path(os.path.abspath(path))
    if source != os.path.abspath(path):
        return _failed(path, "bad_name", "file name is not valid UTF-8")
    if os.path.islink(path) and not os.path.exists(path):
        return _failed(
            path, "broken_symlink", f"symlink points to a missing file: {os.readlink(path)}"
        )
    return Submission(source=source, payload={"path": source})


def _failed(path: str, code: str, message: str) -> Submission:
    source = display_path(os.path.abspath(path))
    return Submission(
        source=source,
        payload={"path": source},
        key=rejection_key(source),
        error=PermanentError(message, code=code),
    )


def read_file(path: str) -> bytes:
    """The bytes of ``path``, with OS errors translated to one-line permanent errors."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise PermanentError("file vanished before it could be read", code="vanished") from exc
    except PermissionError as exc:
        raise PermanentError("permission denied", code="permission_denied") from exc
    except IsADirectoryError as exc:
        raise PermanentError("is a folder, not a file", code="unreadable") from exc
    except OSError as exc:
        raise PermanentError(f"cannot read: {exc.strerror or exc}", code="unreadable") from exc


def file_key(item: StageInput) -> str:
    """Idempotency key of a file job: the SHA-256 of its content.

    Raises:
        PermanentError: unreadable, vanished, or empty (``empty``): a zero-byte
            file is never a document, and all of them would share one key.
    """
    data = read_file(str(item.payload["path"]))
    if not data:
        raise PermanentError("file is empty (0 bytes)", code="empty")
    return hashlib.sha256(data).hexdigest()


IDENTIFY_FILE = Stage("identify", file_key, where="process")
