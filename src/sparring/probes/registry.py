"""The probe registry, the battery runner, and loading a checkpoint for probing."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from sparring.tasks import Task, get_task

from . import abstain, accuracy, compare, confidence, critique, gaslight, infogain, passk, sensitivity, validity
from .common import require, setup
from .config import ProbeConfig, as_config
from .result import ProbeResult

ProbeFn = Callable[[Any, Any, Task, "ProbeConfig | dict | None"], ProbeResult]

# Order matters only for speed: probes after ``accuracy`` reuse its greedy answers from
# the responder's cache (validity, sensitivity template 0, gaslight turn 1, confidence).
PROBES: dict[str, ProbeFn] = {
    "accuracy": accuracy.run,
    "validity": validity.run,
    "sensitivity": sensitivity.run,
    "gaslight": gaslight.run,
    "confidence": confidence.run,
    "abstain": abstain.run,
    "infogain": infogain.run,
    "critique": critique.run,
    "compare": compare.run,
    "passk": passk.run,
}

# The task capabilities each probe needs, as each probe module declares them (``NEEDS``):
# "all" skips the probes a task cannot support, a probe named explicitly fails in one line.
NEEDS: dict[str, tuple[str, ...]] = {
    m.NAME: getattr(m, "NEEDS", ())
    for m in (abstain, accuracy, compare, confidence, critique, gaslight, infogain, passk, sensitivity, validity)
}


def supported(name: str, task: Task) -> bool:
    return all(task.has(c) for c in NEEDS[name])


def probe_names(names: str | Sequence[str] | None = "all", task: Task | None = None) -> list[str]:
    """Resolve ``"all"``, a comma-separated string or a list into registry names; with
    ``task``, "all" keeps the probes the task supports and a named unsupported probe raises."""
    if names is None or names == "all" or (not isinstance(names, str) and list(names) == ["all"]):
        return [n for n in PROBES if task is None or supported(n, task)]
    items = names.split(",") if isinstance(names, str) else list(names)
    out = []
    for raw in items:
        name = str(raw).strip()
        if name not in PROBES:
            raise ValueError(f"probes: unknown probe {name!r}; available: {', '.join(PROBES)} (or 'all')")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError(f"probes: no probe named; available: {', '.join(PROBES)} (or 'all')")
    for name in out if task is not None else ():
        require(task, name, NEEDS[name])
    return out


def run_probes(
    model: Any,
    tokenizer: Any,
    task: Task | str,
    names: str | Sequence[str] = "all",
    n: int | None = None,
    seed: int | None = None,
    config: ProbeConfig | dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, ProbeResult]:
    """Run probes ``names`` on one model and task; returns ``{name: ProbeResult}``.

    ``model`` is a Responder, a ``(model, tokenizer)`` pair or a checkpoint source (see
    ``as_responder``). ``n`` / ``seed`` override the config's. One responder is shared by
    all probes, so greedy answers are generated once. ``progress(name)`` is called before
    each probe. Raises ValueError for unknown names, ``n <= 0`` or a bad config, before
    any model work.
    """
    cfg = as_config(config, n=n, seed=seed)
    if isinstance(task, str):
        task = get_task(task)
    if not isinstance(task, Task):
        raise ValueError(f"task: expected a Task or a task name, got {type(task).__name__}")
    selected = probe_names(names, task)
    responder, cfg = setup(model, tokenizer, cfg, task)  # the style resolved (and checked) once
    results = {}
    for name in selected:
        if progress is not None:
            progress(name)
        results[name] = PROBES[name](responder, None, task, cfg)
    return results
