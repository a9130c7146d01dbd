"""Keep freed tensor memory inside the process (glibc malloc), so training does not page-fault every batch.

PyTorch allocates CPU tensors with the C library's ``malloc``. A training step frees and re-allocates the same
few-MB tables (propagated embeddings, their gradients) every batch; by default glibc serves such blocks with
``mmap`` or trims them off the top of the heap when freed, so each batch faults the pages back in and the
kernel zero-fills them. Measured on TikTok LightGCN (3 layers, batch 2048, 2 cores): with the defaults
5k–77k minor page faults per epoch and epochs drifting from 0.40 s to 0.60 s within one process; with
``mmap_threshold`` = 32 MiB and ``trim_threshold`` = 1 GiB, no faults after the first epoch and 0.34–0.38 s.
The cost: up to ``trim_threshold`` of freed memory stays with the process instead of going back to the OS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3


def retain_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds; returns False (and does nothing) where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
