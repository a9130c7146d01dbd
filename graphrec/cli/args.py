"""Helpers every verb shares: a user error as one line (exit 2), Hydra's errors as one line, and
``key=value`` arguments parsed and checked against what a verb allows."""

from __future__ import annotations

import sys


def fail(message: str) -> None:
    print(f"graphrec: error: {message}", file=sys.stderr)
    sys.exit(2)


def one_line(exc: Exception) -> str:
    """Hydra's multi-line composition errors as one line (message, then the key or the options)."""
    text = str(exc) + ("\n" + str(exc.__cause__) if exc.__cause__ is not None else "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Config search path", "provider=", "Set the environment",
                                                      "To append", "full_key", "object_type"))]
    if any(ln.startswith("Available options") for ln in lines):
        at = next(i for i, ln in enumerate(lines) if ln.startswith("Available options"))
        return f"{lines[0]} ({lines[at].rstrip(':').lower()}: {', '.join(lines[at + 1:])})"
    return " ".join(lines[:2]) if lines else type(exc).__name__


def quoted(value: str) -> str:
    """A Hydra override value that stays one string whatever it holds ('=', ',', quotes)."""
    return "'" + value.replace("'", "\\'") + "'"


PATH_ARGS = {"checkpoint", "out", "export"}  # key=value arguments that name a file or folder


def kv_args(argv: list[str], allowed: set[str], required: set[str]) -> dict:
    from omegaconf import OmegaConf

    bad = [a for a in argv if "=" not in a]
    if bad:
        fail(f"expected key=value arguments, got '{bad[0]}'")
    try:
        args = OmegaConf.to_container(OmegaConf.from_dotlist(argv))
    except Exception as exc:
        fail(f"cannot parse arguments: {exc}")
    unknown = set(args) - allowed
    if unknown:
        fail(f"unknown argument '{sorted(unknown)[0]}' (allowed: {', '.join(sorted(allowed))})")
    missing = required - set(args)
    if missing:
        fail(f"missing argument '{sorted(missing)[0]}=...'")
    for key in PATH_ARGS & set(args):  # checkpoint=5 names a folder "5"; checkpoint= names nothing
        value = args[key]
        if value is None or value == "" or isinstance(value, (list, dict, bool)):
            fail(f"{key}: expected a path, got {'nothing' if value in (None, '') else repr(value)}")
        args[key] = str(value)
    return args
