"""Runs ``graphrec train`` and kills its own process with SIGKILL at a chosen point (used by test_resume).

usage: python -m tests.fault_driver batch N  <train overrides...>   # SIGKILL when the N-th batch is drawn
       python -m tests.fault_driver save N   <train overrides...>   # SIGKILL half-way through the N-th torch.save

Under torchrun only rank 0 kills itself (after its own checkpoint writes); torchrun then stops the others.
"""

import io
import os
import signal
import sys

import torch

from graphrec.cli import main
from graphrec.data.sampler import TrainingBatches


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at_batch(n: int) -> None:
    epoch, count = TrainingBatches.epoch, [0]

    def counted(self, generator):
        for batch in epoch(self, generator):
            count[0] += 1
            if count[0] == n and os.environ.get("RANK", "0") == "0":
                _die()
            yield batch

    TrainingBatches.epoch = counted


def kill_in_save(n: int) -> None:
    save, count = torch.save, [0]

    def half_written(obj, f, *args, **kwargs):
        count[0] += 1
        if count[0] != n:
            return save(obj, f, *args, **kwargs)
        buf = io.BytesIO()
        save(obj, buf)
        out = open(f, "wb") if isinstance(f, (str, os.PathLike)) else f  # checkpoints pass an open file
        out.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        out.flush()
        os.fsync(out.fileno())
        _die()

    torch.save = half_written


if __name__ == "__main__":
    mode, n, overrides = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    {"batch": kill_at_batch, "save": kill_in_save}[mode](n)
    main(["train", *overrides])
