"""The method registry: name -> (config class, run function)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .config import MethodConfig

RunFn = Callable[[Any, Any, Any, Any, Any], Any]


@dataclass(frozen=True)
class Method:
    name: str
    config_cls: type[MethodConfig]
    run: RunFn
    resumable: bool = False  # writes resumable checkpoints (checkpoint_every) and honours resume

    @property
    def doc(self) -> str:
        return (self.run.__doc__ or "").strip().split("\n")[0]


METHODS: dict[str, Method] = {}


def register_method(name: str, config_cls: type[MethodConfig], *, resumable: bool = False) -> Callable[[RunFn], RunFn]:
    """Decorator: register ``fn(base, task, config, out_dir, budget) -> Path`` as ``name``
    (``resumable``: it writes ``checkpoint_every`` checkpoints and continues from one when
    ``train(..., resume=True)`` asks, ``resume.py``)."""

    def deco(fn: RunFn) -> RunFn:
        METHODS[name] = Method(name, config_cls, fn, resumable)
        return fn

    return deco


def get_method(name: str) -> Method:
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"method: unknown method {name!r}; available: {sorted(METHODS)}")
    return METHODS[name]
