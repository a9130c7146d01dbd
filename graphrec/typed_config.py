"""Typed config sections: a dataclass per section (``trainer``, ``eval``) whose fields declare their type, bounds
and choices; building one checks every field and raises one ConfigError naming ``<section>.<field>``.

    @dataclass
    class TrainerConfig(TypedSection):
        section: ClassVar[str] = "trainer"
        lr: float = setting(1e-3, above=0)
        precision: str = setting("fp32", choices=("fp32", "bf16"))

Types read from the annotations: ``int`` (a whole number, not a bool), ``float`` (any number but NaN), ``bool``,
``str``, ``list[str]``, and ``X | None`` (None allowed). ``Any`` fields are not checked. Rules between fields
belong in the subclass's ``__post_init__`` after ``super().__post_init__()``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from graphrec.errors import ConfigError


def check_number(value: Any, key: str, kind: str, low: float | None = None, high: float | None = None,
                 inclusive: bool = True) -> None:
    """One ConfigError naming ``key`` unless ``value`` is a ``kind`` ("int" or "float") number within
    [low (or above it, when not ``inclusive``), high)."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if not (whole or (kind == "float" and isinstance(value, float))) or value != value:
        raise ConfigError(f"{key}: expected {'an integer' if kind == 'int' else 'a number'}, got {value!r}")
    if low is not None and (value < low or (value == low and not inclusive)):
        raise ConfigError(f"{key}: must be {'at least' if inclusive else 'greater than'} {low}, got {value!r}")
    if high is not None and value >= high:
        raise ConfigError(f"{key}: must be below {high}, got {value!r}")


def check_choice(value: Any, key: str, allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")


def check_flag(value: Any, key: str) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")


def setting(default: Any = dataclasses.MISSING, *, at_least: float | None = None, above: float | None = None,
            below: float | None = None, choices: Iterable[str] | None = None,
            default_factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its rules."""
    if at_least is not None and above is not None:
        raise ValueError("setting: at_least or above, not both")
    rules = {"low": above if above is not None else at_least, "inclusive": above is None, "high": below,
             "choices": None if choices is None else tuple(choices)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=rules)
    return dataclasses.field(default=default, metadata=rules)


def _check_type(value: Any, key: str, hint: Any) -> bool:
    """Checks ``value`` against ``hint``; False when it is None and the hint allows None (nothing more to check)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return False
        hint = next(a for a in args if a is not type(None))
    if hint is int:
        check_number(value, key, "int")
    elif hint is float:
        check_number(value, key, "float")
    elif hint is bool:
        check_flag(value, key)
    elif hint is str and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    elif typing.get_origin(hint) is list:
        if not isinstance(value, list) or not all(isinstance(v, typing.get_args(hint)[0]) for v in value):
            raise ConfigError(f"{key}: expected a list of {typing.get_args(hint)[0].__name__}, got {value!r}")
    return True


class TypedSection:
    """Base of a typed section (a ``@dataclass`` subclass): checks every field on construction."""

    section: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            hint, value, key = hints[f.name], getattr(self, f.name), f"{self.section}.{f.name}"
            if hint is Any or not _check_type(value, key, hint):
                continue
            rules = f.metadata
            if rules.get("low") is not None or rules.get("high") is not None:
                check_number(value, key, "int" if hint is int else "float", rules["low"], rules["high"],
                             rules["inclusive"])
            if rules.get("choices") is not None:
                check_choice(value, key, rules["choices"])

    @classmethod
    def from_config(cls, node: Any) -> Any:
        """From a config node (an OmegaConf node or a dict); keys that are not fields are left to others."""
        from omegaconf import OmegaConf

        values = dict(node) if isinstance(node, dict) else OmegaConf.to_container(node, resolve=True)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in values.items() if k in names})
