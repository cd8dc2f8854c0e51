"""The runner: arms x seeds -> train (each arm at the spec's budget) -> probe -> store.

Run folder layout::

    runs/NAME/
      spec.yaml          the resolved spec (what this folder's results belong to)
      lab.sqlite         results store (see store.py)
      ckpt/ARM-sSEED/    checkpoints (save_pretrained + run.json), written atomically
      tensorboard/ARM-sSEED/  TensorBoard logs of each train unit (spec ``tensorboard: true``)

Resume: every unit (train or probe of one arm and seed) is marked done in the same SQLite
transaction that stores its results, and checkpoints appear only when complete, so after
``kill -9`` the same command skips what finished and redoes only the unit in flight.
With step or token budgets on CPU the re-run's numbers equal an uninterrupted run's.

Keys: every unit is keyed by the content it depends on (:meth:`Spec.unit_key`; the base's
and local datasets' fingerprints are computed once per run, before any unit), so a run
folder whose base weights or tokenizer changed behind the same name or path redoes its
units. A train unit that is redone for a new key starts from scratch: a pipeline's
finished stages from the old key (``ckpt/ARM-sSEED.stages/``) are removed first.

Checkpoints inside a unit: with the spec's ``checkpoint_every`` (or an arm's own), every arm
whose method is resumable writes resumable checkpoints (``ckpt/ARM-sSEED.resume/``,
docs/resume.md). A train unit that was killed mid-way (recorded ``running`` under the same
key) continues from its last complete checkpoint (``train(..., resume=True)``) instead of
step 0; the step is in its run.json, ``metrics.train.resumed_from_step``.

Where units run (``executor``): in this process one after another (the default) or as Ray
tasks (``executors.py``, docs/scale.md). Every decision above is made here, by the driver,
either way (:func:`_begin`), and results are recorded here as the units hand them back.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sparring.atomic import write_text_atomic
from sparring.runcard import RunCard
from sparring.tasks import get_task

from .executors import ExecutorOptions, UnitCall, get_executor, pinned_threads, unit_threads
from .spec import Spec, content_fingerprints, load_spec
from .store import Store

console = Console(stderr=True)
TENSORBOARD = "tensorboard"  # the run folder's TensorBoard logs, one folder per train unit


def _history_points(history: list, offset: float) -> list[tuple[float, str, float]]:
    out = []
    for i, entry in enumerate(history or []):
        step = offset + entry.get("step", i)
        for k, v in entry.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append((float(step), k, float(v)))
    return out


def _curves(card: RunCard) -> list[tuple[float, str, float]]:
    """Training curves from a run card (``log_history``), if it has them.

    A pipeline's stages are laid end to end: stage i's steps are offset by the steps of the
    stages before it, and a ``stage_start`` point (value: the stage number) marks where each
    stage after the first begins, so the report can draw the boundaries."""
    train = card.metrics.get("train") or {}
    if isinstance(train.get("stages"), list):
        out, offset = [], 0.0
        for i, st in enumerate(train["stages"], start=1):
            st = st or {}
            if i > 1:
                out.append((offset, "stage_start", float(i)))
            out += _history_points(st.get("log_history"), offset)
            offset += float(st.get("steps") or 0)
        return out
    return _history_points(card.get("log_history") or train.get("log_history"), 0.0)


def _prepare(store: Store, spec: Spec, restart: bool) -> list[str]:
    """Reconcile the run folder with the spec before any unit runs; returns notes to print.

    ``restart`` discards everything. Otherwise results of (arm, seed) pairs no longer in the
    spec are deleted, and every other unit is kept or redone by its unit key
    (:meth:`Spec.unit_key`): a finished unit whose key still matches is not redone. Units
    recorded before unit keys existed get the keys of the spec they were run with.

    Units recorded before content keys (their stored spec has no fingerprints; their keys
    hashed the base's *name*) are redone, not migrated: nothing recorded says which weights
    the name stood for when they ran, and trusting it is the bug content keys fix."""
    if restart:
        store.discard(lambda arm, seed: True)
        return []
    notes = []
    old = store.get_meta("spec")
    if old is not None:
        try:
            previous = Spec.from_dict(old)
        except (TypeError, KeyError) as e:
            raise ValueError(
                f"{store.path}: its stored spec is unreadable ({e}); pass --restart to discard the folder's results"
            ) from None
        store.set_keys(
            {
                (a.name, seed, kind): previous.unit_key(a, seed, kind)
                for a in previous.arms
                for seed in previous.seeds
                for kind in ("train", "probe")
            }
        )
        arms = {a.name: a for a in spec.arms}
        stale = sum(
            u["status"] == "done"
            and u["arm"] in arms
            and u["seed"] in spec.seeds
            and u["key"] != spec.unit_key(arms[u["arm"]], u["seed"], u["kind"])
            for u in store.units()
        )
        if stale and not previous.fingerprints:
            notes.append(f"{stale} finished unit(s) were keyed by the base's name (before content keys): redone")
        elif stale and previous.fingerprints.get("base") != spec.fingerprints.get("base"):
            notes.append(f"the base's content changed since the last run ({spec.base}): {stale} unit(s) redone")
    wanted = {(a.name, seed) for a in spec.arms for seed in spec.seeds}
    store.discard(lambda arm, seed: (arm, seed) not in wanted)
    return notes


def _ckpt_dir(run_dir: Path, arm_name: str, seed: int) -> Path:
    return run_dir / "ckpt" / f"{arm_name}-s{seed}"


def tensorboard_dir(run_dir: Path, arm_name: str, seed: int) -> Path:
    """Where a train unit's TensorBoard logs go when the spec asks (``tensorboard: true``)."""
    return Path(run_dir) / TENSORBOARD / f"{arm_name}-s{seed}"


def _clear_stale(run_dir: Path, arm_name: str, seed: int) -> None:
    """Remove what an earlier train unit of (arm, seed) under another key left that training
    would reuse: a pipeline skips a finished stage by its own stage key, which does not see
    new weights behind the same base path."""
    stages = _ckpt_dir(run_dir, arm_name, seed).with_name(f"{arm_name}-s{seed}.stages")
    if stages.is_dir():
        shutil.rmtree(stages)


def _resumable(arm) -> bool:
    from sparring.train import get_method

    return arm.trains and get_method(arm.method).resumable


def train_unit(spec: Spec, arm, seed: int, run_dir: Path, resume: bool = False) -> tuple[str, dict, list]:
    """Train one arm for one seed (or return the base for an untrained arm): the
    checkpoint, what the store records of its card, and its training curves. ``resume``:
    continue from the last complete checkpoint an interrupted run of this unit wrote."""
    from sparring.train import train

    if not arm.trains:
        return spec.base, {}, []
    config = {"eval_problems": 0, **spec.arm_config(arm), "seed": seed}
    out = _ckpt_dir(run_dir, arm.name, seed)
    if spec.tensorboard:
        config.update(report_to="tensorboard", log_dir=str(tensorboard_dir(run_dir, arm.name, seed).absolute()))

    task = get_task(spec.task, **spec.task_config)
    card = train(arm.method, spec.base, task, config, out, spec.budget, resume=resume, processes=spec.processes)
    return str(card.path), {"metrics": card.metrics, "budget": card.budget}, _curves(card)


def probe_unit(spec: Spec, path: str, seed: int, progress: Callable[[str], None] | None = None):
    from sparring.probes import run_probes

    task = get_task(spec.task, **spec.task_config)
    return run_probes(
        path, None, task, spec.probes, n=spec.probe_n, seed=seed, config=dict(spec.probe_config), progress=progress
    )


def run(
    spec_or_path: Spec | str | Path,
    out: str | Path,
    *,
    restart: bool = False,
    quiet: bool = False,
    redo: tuple[str, ...] | list[str] = (),
    executor: str = "inprocess",
    options: ExecutorOptions | None = None,
) -> Path:
    """Run (or resume) a study; returns the run folder. ``redo``: arms whose finished units
    are discarded and run again (e.g. after a change to sparring itself, which unit keys
    do not see). ``executor``: where the units run (``inprocess`` or ``ray``,
    :mod:`sparring.lab.executors`; ``options`` for it); the store and every decision stay
    here, whichever it is."""
    spec = spec_or_path if isinstance(spec_or_path, Spec) else load_spec(spec_or_path)
    execute_units = get_executor(executor)
    unknown = sorted(set(redo) - {a.name for a in spec.arms})
    if unknown:
        raise ValueError(
            f"redo: no arm named {', '.join(unknown)} in the spec; arms: {', '.join(a.name for a in spec.arms)}"
        )
    spec.fingerprints = content_fingerprints(spec)  # once per run; files are hashed once per process
    run_dir = Path(out).absolute()  # workers of another process or machine read the same paths
    run_dir.mkdir(parents=True, exist_ok=True)
    store = Store(run_dir)
    try:
        notes = _prepare(store, spec, restart)
        store.discard(lambda arm, seed: arm in redo)
        store.set_meta("spec", spec.to_dict())
        _write_text(run_dir / "spec.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False))
        units = [(arm, seed, kind) for seed in spec.seeds for arm in spec.arms for kind in ("train", "probe")]
        todo = [u for u in units if not store.done(u[0].name, u[1], u[2], spec.unit_key(*u))]
        if not quiet:
            for note in notes:
                console.print(note)
            console.print(
                f"[bold]{spec.name}[/]: {len(spec.arms)} arms x {len(spec.seeds)} seeds, "
                f"budget {spec.budget} per arm; {len(units) - len(todo)} of {len(units)} "
                f"units already done" + ("" if executor == "inprocess" else f" (executor {executor})")
            )
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
            job = bar.add_task("study", total=len(units), completed=len(units) - len(todo))

            def begin(unit) -> UnitCall:
                call = _begin(store, spec, run_dir, unit, quiet)
                bar.update(job, description=call.label)
                return call

            def record(unit, result, seconds: float) -> None:
                arm, seed, kind = unit
                if kind == "train":
                    path, detail, curves = result
                    store.finish_train(arm.name, seed, path, seconds, detail, curves)
                else:
                    store.finish_probes(arm.name, seed, result, seconds)
                bar.advance(job)

            def progress(unit, message: str) -> None:
                bar.update(job, description=f"{unit[2]} {unit[0].name} (seed {unit[1]}): {message}")

            execute_units(todo, begin, record, options or ExecutorOptions(), progress, execute=execute)
    finally:
        store.close()
    return run_dir


def _begin(store: Store, spec: Spec, run_dir: Path, unit: tuple, quiet: bool) -> UnitCall:
    """The driver's decision for one unit about to run: clear what an older key left, resume
    a train unit that was interrupted under the same key, mark it running in the store."""
    arm, seed, kind = unit
    key = spec.unit_key(arm, seed, kind)
    before = store.unit(arm.name, seed, kind)
    if kind == "train" and (before is None or before["key"] != key):
        _clear_stale(run_dir, arm.name, seed)  # an interrupted unit of this key keeps its stages
    # killed mid-way under this key: continue from its last checkpoint
    resume = (
        kind == "train"
        and before is not None
        and before["status"] == "running"
        and before["key"] == key
        and _resumable(arm)
    )
    if resume and not quiet:
        console.print(f"train {arm.name} (seed {seed}): resuming the interrupted run from its last checkpoint")
    store.start(arm.name, seed, kind, key)
    path = store.unit(arm.name, seed, "train")["path"] if kind == "probe" else None
    return UnitCall(spec, arm, seed, kind, str(run_dir), resume, path, unit_threads(spec, kind))


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def execute(call: UnitCall, progress: Callable[[str], None] | None = None) -> tuple[Any, float]:
    """Run one unit where this is called (the driver's process or a Ray worker); returns
    (result, wall seconds). A train unit's result: (checkpoint, card detail, curves); a
    probe unit's: {probe name: ProbeResult}."""
    t0 = time.perf_counter()
    with pinned_threads(call.threads):
        if call.kind == "train":
            result = train_unit(call.spec, call.arm, call.seed, Path(call.run_dir), resume=call.resume)
        else:
            result = probe_unit(call.spec, call.path, call.seed, progress)
    return result, time.perf_counter() - t0
