"""Run dirs claimed atomically: ``${claim_dir:run,<path>}`` in ``hydra.run.dir`` / ``hydra.sweep.dir``.

Hydra's default dirs are named by the time to the second, so two runs started in the same second (a shell loop
of seeds with ``&``) would share one dir and overwrite each other's checkpoints and results. ``claim_dir``
creates the dir with ``os.mkdir`` — which fails when it exists, atomically, across processes — and on a
collision takes the first free ``<path>-2``, ``<path>-3``, …; the dir it made is this run's alone.

One claim per ``kind`` (``run``, ``sweep``) and process: Hydra resolves a dir more than once (and the time in
its name may tick between two resolutions), so the first claim is remembered (``reset()`` forgets it, at the
start of each command). A multirun's jobs see their sweep's claim through Hydra's resolver cache, which is
copied into each job's config (and pickled with it to submitit's processes). Under torchrun, rank 0 claims
and the other ranks receive its dir.
"""

from __future__ import annotations

import os
from pathlib import Path

from graphrec import distributed as ddp

_claimed: dict[str, str] = {}


def reset() -> None:
    """Forget this process's claims (a new command claims anew)."""
    _claimed.clear()


def first_free(path: str) -> str:
    """Create ``path`` (or ``path-2``, ``path-3``, …, the first that does not exist yet) and return it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = path if n == 1 else f"{path}-{n}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{path}: 10,000 run dirs of this name exist already")


def claim_dir(kind: str, path: str) -> str:
    """This process's dir of ``kind`` (module doc): claimed at the first call, the same dir afterwards."""
    if kind not in _claimed:
        rank = ddp.context()
        claimed = first_free(path) if rank.is_main else None
        _claimed[kind] = ddp.broadcast_object(claimed) if rank.enabled else claimed
    return _claimed[kind]
