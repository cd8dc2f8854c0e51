"""reasoning-gym's generators, in-process and in the grading worker.

``entry(name, config, index)`` regenerates one dataset item (reasoning-gym items are a
pure function of the dataset's config, seed and index); ``score`` runs the dataset's own
``score_answer`` on it and is what the bounded grading worker calls (``tasks.grader``:
"rg"), since some scorers parse the answer with sympy.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from typing import Any

SEED = 0  # every sparring item is (config, index) of the dataset seeded with this
INDEX_SPACE = 1_000_000  # the dataset size: indices 0 .. INDEX_SPACE - 1


def rg_config(name: str, config: dict[str, Any]) -> Any:
    """reasoning-gym's config object for ``config`` (lists back to tuples where its
    defaults are tuples), validated by its own ``validate``; ValueError when refused."""
    from reasoning_gym.factory import DATASETS

    _, config_cls = DATASETS[name]
    defaults = {f.name: f.default for f in dataclasses.fields(config_cls)}
    args = {k: tuple(v) if isinstance(defaults.get(k), tuple) and isinstance(v, list) else v for k, v in config.items()}
    try:
        cfg = config_cls(**args, seed=SEED, size=INDEX_SPACE)
        if hasattr(cfg, "validate"):
            cfg.validate()
    except (AssertionError, ValueError, TypeError) as err:
        raise ValueError(f"rg:{name}: reasoning-gym refuses the config {config}: {err or type(err).__name__}") from err
    return cfg


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
