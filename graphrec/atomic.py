"""Atomic writes: a file or a folder appears whole under its final name, or not at all.

Every write goes to a temporary name in the target's own folder (``.<name>.<random>``), is flushed to disk
(``fsync`` of the file, then of its folder after the rename) and renamed over the target, so an interrupted
write leaves the previous content intact and at most a hidden temporary behind. Files get the mode the
process's umask gives (``mkstemp`` alone would leave them 0600). A full disk (or quota) is one ``DataError`` naming
the target, the space needed and the space free; the temporary is removed and the previous content kept.
"""

from __future__ import annotations

import contextlib
import errno
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


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _used(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder; 0 when gone)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _out_of_space(exc: Exception, folder: Path) -> bool:
    """Whether a failed write ran out of space: ENOSPC / EDQUOT, or any error (``torch.save``'s zip writer
    reports a short write as a RuntimeError) while the device has under 1 MB left, the temporary still on it."""
    if isinstance(exc, OSError) and exc.errno in NO_SPACE:
        return True
    try:
        return shutil.disk_usage(folder).free < (1 << 20)
    except OSError:
        return False


def no_space(target: Path, needed: int | None, written: int) -> DataError:
    """The one-line error of a write that ran out of space (module doc)."""
    folder = next(p for p in (target.parent, *target.parents) if p.exists())
    free = shutil.disk_usage(folder).free
    need = f"about {_size(needed)}" if needed else f"more than {_size(written)}"
    kept = f"the previous {target.name} is kept" if target.exists() else "nothing was written"
    return DataError(f"{target}: no space left on the device ({need} needed, {_size(free)} free in {folder}); {kept}")


def atomic_write(path: str | Path, write_fn: Callable[[str], None], size_hint: int | None = None) -> None:
    """Call ``write_fn(tmp_path)``, then rename the temporary file onto ``path`` (see the module docstring).

    A folder that cannot be written is a ``DataError`` naming it; so is a full disk (``size_hint``: the bytes the
    write needs, for the message)."""
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
    except Exception as exc:
        full, written = _out_of_space(exc, path.parent), _used(Path(tmp))
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if full:
            raise no_space(path, size_hint, written) from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


@contextlib.contextmanager
def atomic_directory(target: str | Path, overwrite: bool = False, size_hint: int | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on success its files are synced and it replaces
    ``target`` (the old one, with ``overwrite``, is moved aside first and removed after); on any error it is
    removed. Temporary folders are named ``.tmp-<target name>-<random>`` (see ``stale_temporaries``). A full
    disk is one ``DataError`` (``size_hint``: the bytes the folder needs, for the message)."""
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
    except Exception as exc:
        full, written = _out_of_space(exc, target.parent), _used(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise no_space(target, size_hint, written) from None
        raise
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
