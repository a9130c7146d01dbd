"""Atomic writes: a file or a folder appears whole under its final name, or not at all.

Every write goes to a temporary name in the target's own folder (``.<name>.<random>``), is flushed to disk
(``fsync`` of the file, then of its folder after the rename) and renamed over the target, so an interrupted
write leaves the previous content intact and at most a hidden temporary behind. Files get the mode the
process's umask gives (``mkstemp`` alone would leave them 0600).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from graphrec.errors import DataError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        _fsync_path(path)


def _writable_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path.parent}: cannot create folder ({exc.strerror})") from None


def atomic_write(path: str | Path, write_fn: Callable[[str], None]) -> None:
    """Call ``write_fn(tmp_path)``, then rename the temporary file onto ``path`` (see the module docstring).

    A folder that cannot be written is a ``DataError`` naming it."""
    path = Path(path)
    _writable_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise DataError(f"{path.parent}: cannot write {path.name} ({exc.strerror})") from None
    os.close(fd)
    try:
        write_fn(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        _fsync_path(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


@contextlib.contextmanager
def atomic_directory(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on success its files are synced and it replaces
    ``target`` (the old one, with ``overwrite``, is moved aside first and removed after); on any error it is
    removed. Temporary folders are named ``.tmp-<target name>-<random>`` (see ``stale_temporaries``)."""
    target = Path(target)
    _writable_parent(target)
    tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise DataError(f"{target.parent}: cannot write ({exc.strerror})") from None
    try:
        yield tmp
        for child in tmp.iterdir():
            os.chmod(child, 0o666 & ~_umask())
            _fsync_path(child)
        fsync_dir(tmp)
        if target.exists():
            if not overwrite:
                raise DataError(f"{target}: already exists")
            trash = target.parent / f".trash-{target.name}-{uuid.uuid4().hex[:8]}"
            target.rename(trash)
            tmp.rename(target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def temporary_owner(name: str) -> str | None:
    """The target name of a temporary or trash folder made by ``atomic_directory`` (else None)."""
    for prefix in (".tmp-", ".trash-"):
        if name.startswith(prefix):
            base, sep, _ = name[len(prefix):].rpartition("-")
            return base if sep else None
    return None
