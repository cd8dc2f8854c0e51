"""reasoning-gym's generators, in-process and in the grading worker.

``entry(name, config, index)`` regenerates one dataset item (reasoning-gym items are a
pure function of the dataset's config, seed and index); ``score`` runs the dataset's own
``score_answer`` on it and is what the bounded grading worker calls (``tasks.grader``:
"rg"), since some scorers parse the answer with sympy.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from functools import lru_cache
from typing import Any

SEED = 0  # every sparring item is (config, index) of the dataset seeded with this
INDEX_SPACE = 1_000_000  # the default dataset size (the `size` option): indices 0 .. size - 1


def rg_config(name: str, config: dict[str, Any]) -> Any:
    """reasoning-gym's config object for ``config`` (lists back to tuples where its
    defaults are tuples), validated by its own ``validate``; ValueError when refused."""
    from reasoning_gym.factory import DATASETS

    _, config_cls = DATASETS[name]
    defaults = {f.name: _default(f) for f in dataclasses.fields(config_cls)}
    args = {k: _typed(defaults.get(k), v) for k, v in config.items()}
    try:
        cfg = config_cls(**{"size": INDEX_SPACE, **args}, seed=SEED)
        if hasattr(cfg, "validate"):
            cfg.validate()
    except (AssertionError, ValueError, TypeError) as err:
        raise ValueError(f"rg:{name}: reasoning-gym refuses the config {config}: {err or type(err).__name__}") from err
    return cfg


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def _typed(default: Any, v: Any) -> Any:
    """A JSON value back in its config type: a list where the default is a tuple, an enum
    member where the default is an enum (``"original"`` -> ``TextTransformation.ORIGINAL``),
    a date from its ISO text, a nested config dataclass from its fields."""
    if isinstance(default, (list, tuple)) and isinstance(v, list):
        if default and isinstance(default[0], enum.Enum):
            v = [_typed(default[0], x) for x in v]
        return tuple(v) if isinstance(default, tuple) else v
    if dataclasses.is_dataclass(default) and isinstance(v, dict):
        return type(default)(**v)
    if isinstance(default, (datetime.date, datetime.time)) and isinstance(v, str):
        return type(default).fromisoformat(v)
    if isinstance(default, enum.Enum) and not isinstance(v, enum.Enum):
        try:
            return type(default)(v)
        except ValueError as err:
            raise ValueError(f"must be one of {[m.value for m in type(default)]} (got {v!r})") from err
    return v


@lru_cache(maxsize=16)
def _dataset(name: str, config_json: str) -> Any:
    from reasoning_gym.factory import DATASETS

    dataset_cls, _ = DATASETS[name]
    return dataset_cls(config=rg_config(name, json.loads(config_json)))


def dataset(name: str, config: dict[str, Any]) -> Any:
    return _dataset(name, json.dumps(config, sort_keys=True))


def entry(name: str, config: dict[str, Any], index: int) -> dict[str, Any]:
    """Item ``index`` (cached: some generators take tens of milliseconds, e.g. countdown's
    sympy expressions, and a drawn item is read again by its gold and its verifier)."""
    return _entry(name, json.dumps(config, sort_keys=True), index)


@lru_cache(maxsize=8192)
def _entry(name: str, config_json: str, index: int) -> dict[str, Any]:
    return _dataset(name, config_json)[index]


def score(name: str, config: dict[str, Any], index: int, answer: str) -> float:
    """The dataset's own score of ``answer`` on item ``index`` (runs in the worker)."""
    ds = dataset(name, config)
    return float(ds.score_answer(answer, ds[index]))


def warm() -> None:
    """Import reasoning-gym (the worker calls this before any item)."""
    import reasoning_gym  # noqa: F401
