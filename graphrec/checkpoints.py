"""Checkpoints: state dicts and plain data only, written atomically, checksummed, verified on load.

A checkpoint is a ``torch.save`` of a dict that carries ``checksum``: the SHA-256 of its content (every
tensor's dtype, shape and bytes, every plain value, in key order). Loading uses ``torch.load(weights_only=
True)`` and recomputes the checksum, so a flipped byte is refused with the file named instead of evaluating
to garbage. Checkpoints written before checksums existed load with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from graphrec.atomic import atomic_write
from graphrec.errors import GraphrecError

log = logging.getLogger("graphrec")

CHECKSUM_KEY = "checksum"


def _feed(h: "hashlib._Hash", obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            _feed(h, key)
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for item in obj:
            _feed(h, item)
    else:  # str, int, float, bool, None: their repr is exact (floats round-trip)
        h.update(f"V{type(obj).__name__}:{obj!r};".encode())


def content_checksum(obj: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's content, ``checksum`` itself left out."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in obj.items() if k != CHECKSUM_KEY})
    return h.hexdigest()


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def save_checkpoint(obj: dict[str, Any], path: str | Path) -> None:
    """Write atomically (a full disk is one line naming the file and the space needed; the previous file
    stays). Through a Python file object, so a failed write is an ``OSError`` with its errno (``torch.save`` on
    a path reports it as an opaque RuntimeError)."""
    payload = {**obj, CHECKSUM_KEY: content_checksum(obj)}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            torch.save(payload, f)

    atomic_write(path, write, size_hint=_tensor_bytes(payload))


def write_json(obj: Any, path: str | Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or ``checkpoints/best.pt`` of a run directory."""
    path = Path(path)
    return path / "checkpoints" / "best.pt" if path.is_dir() else path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and verify a checkpoint file, or ``checkpoints/best.pt`` of a run directory."""
    path = resolve_checkpoint(path)
    if not path.is_file():
        raise GraphrecError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated or foreign file
        raise GraphrecError(f"{path}: not a readable graphrec checkpoint ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise GraphrecError(f"{path}: not a graphrec checkpoint (holds a {type(obj).__name__}, not a dict)")
    stored = obj.pop(CHECKSUM_KEY, None)
    if stored is None:
        log.warning(f"{path}: checkpoint has no checksum (written by an older graphrec); not verified")
    elif stored != content_checksum(obj):
        raise GraphrecError(f"{path}: checksum mismatch, the checkpoint is corrupted (written "
                            f"{stored[:12]}…, read {content_checksum(obj)[:12]}…); use another checkpoint "
                            f"(last.pt / best.pt) or train again")
    return obj
