"""Where a study's units run: in this process, one after another (``inprocess``, the
default), or as tasks on a Ray cluster (``ray``; ``sparring run SPEC --executor ray``).

The driver (:func:`sparring.lab.runner.run`) keeps the store and every decision: which units
are done, whether an interrupted train unit resumes from its checkpoint, what is recorded.
An executor only carries each decided unit (a :class:`UnitCall`, plain picklable data) to
where it runs and hands its result back to the driver's ``record``. So the two executors
record the same things, and a run started with one can be resumed with the other.

Resources (``resources.Resources``, the spec's ``resources: {cpus, gpus}``): a unit runs with ``cpus`` torch threads
(``torch.set_num_threads`` and ``SPARRING_THREADS``, which training reads; a train unit of
``processes: N`` gives each rank ``cpus // N``), in either executor, so both compute the
same numbers. Ray also reserves ``cpus`` CPUs (1 when the spec names none) and ``gpus``
GPUs for each task (Ray sets ``CUDA_VISIBLE_DEVICES``); in-process, ``gpus`` is not used.

Ray: a task whose worker dies (killed, out of memory, its node lost) is not retried by Ray
(``max_retries=0``): the driver submits it again, deciding afresh from the store, so an
interrupted train unit continues from its last resumable checkpoint (``checkpoint_every``)
and no other unit is redone. A unit that raises fails the run, as in-process. Checkpoints
are written to the run folder, which every worker must reach at the same path: on a real
cluster, shared storage (docs/scale.md).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from .spec import Arm, Spec

THREADS_ENV = "SPARRING_THREADS"  # what training's configure_threads reads (sparring.models.device)


@dataclass(frozen=True)
class UnitCall:
    """One decided unit, as a worker runs it: the spec, the arm and seed, ``kind`` (train or
    probe), the run folder, whether training resumes from its checkpoint, the checkpoint a
    probe unit probes, and the torch threads to run with (None: leave them)."""

    spec: "Spec"
    arm: "Arm"
    seed: int
    kind: str
    run_dir: str
    resume: bool = False
    path: str | None = None
    threads: int | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.arm.name} (seed {self.seed})"


def unit_threads(spec: "Spec", kind: str) -> int | None:
    """The torch threads a unit runs with: the spec's ``resources.cpus``, split over the
    ranks of a train unit with several ``processes``."""
    cpus = spec.resources.cpus
    if cpus is None:
        return None
    return max(1, cpus // spec.processes) if kind == "train" else cpus


@contextmanager
def pinned_threads(n: int | None) -> Iterator[None]:
    """torch (and training's ``SPARRING_THREADS``) on ``n`` threads inside the block; restored after."""
    if n is None:
        yield
        return
    import torch

    old_env, old = os.environ.get(THREADS_ENV), torch.get_num_threads()
    os.environ[THREADS_ENV] = str(n)
    torch.set_num_threads(n)
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop(THREADS_ENV, None)
        else:
            os.environ[THREADS_ENV] = old_env
        torch.set_num_threads(old)


class WorkerLost(RuntimeError):
    """A unit's Ray worker died more often than ``ExecutorOptions.retries`` allows."""


@dataclass(frozen=True)
class ExecutorOptions:
    """``address``: the Ray cluster to join (None: start a local one; ``auto``: the one
    this machine belongs to). ``retries``: how often a unit whose Ray worker died is
    submitted again before the run fails."""

    address: str | None = None
    retries: int = 2


# The driver's side of a unit: ``begin(unit) -> UnitCall`` decides and marks it running;
# ``record(unit, result, seconds)`` stores its result and marks it done. A unit is
# (arm, seed, kind).
Begin = Callable[[tuple], UnitCall]
Record = Callable[[tuple, Any, float], None]
# ``execute(call, progress) -> (result, seconds)`` runs one unit where it is called (the
# driver's process or a Ray worker); the runner passes its own (``runner.execute``), so
# this module never imports the runner.
Execute = Callable[..., tuple[Any, float]]


def run_inprocess(
    units: list[tuple], begin: Begin, record: Record, options: ExecutorOptions, progress=None, *, execute: Execute
) -> None:
    """Each unit in this process, in order, by ``execute`` (``runner.execute``).
    ``progress(unit, message)`` reports a probe unit's probes as they start."""
    for unit in units:
        call = begin(unit)
        say = (lambda name, u=unit: progress(u, name)) if progress is not None else None
        result, seconds = execute(call, say)
        record(unit, result, seconds)


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError(
            "executor ray: ray is not installed in this environment (pip install 'sparring[ray]')"
        ) from None
    return ray


def run_ray(
    units: list[tuple], begin: Begin, record: Record, options: ExecutorOptions, progress=None, *, execute: Execute
) -> None:
    """Each unit as a Ray task with the spec's resources; a probe unit is submitted once
    its train unit (if it is in ``units``) is recorded. The driver records results as they
    come back, in any order; a unit whose worker died is decided and submitted again
    (``options.retries`` times). Joins ``options.address``, or starts a local Ray (and
    stops it at the end) unless this process already joined one (``ray.init``)."""
    ray = _ray()
    from ray.exceptions import RayError, RayTaskError

    own = not ray.is_initialized()
    if own:
        kw = {"include_dashboard": False} if options.address is None else {}
        ray.init(address=options.address, log_to_driver=True, **kw)
    task = ray.remote(max_retries=0)(execute)
    waiting, flying, lost = list(units), {}, {}

    def submit() -> None:
        busy = {(u[0].name, u[1]) for u in [*waiting, *flying.values()] if u[2] == "train"}
        for unit in [u for u in waiting if u[2] == "train" or (u[0].name, u[1]) not in busy]:
            waiting.remove(unit)
            call = begin(unit)
            res = call.spec.resources
            opts = {"num_cpus": res.cpus or 1, "num_gpus": res.gpus, "name": f"sparring {call.label}"}
            flying[task.options(**opts).remote(call)] = unit

    try:
        submit()
        while flying:
            [ref], _ = ray.wait(list(flying), num_returns=1)
            unit = flying.pop(ref)
            try:
                result, seconds = ray.get(ref)
            except RayTaskError as err:  # the unit itself raised: fail as in-process
                cause = getattr(err, "cause", None)
                raise (cause if isinstance(cause, Exception) else err) from None
            except RayError as err:  # its worker or node died: decide and submit it again
                key = (unit[0].name, unit[1], unit[2])
                lost[key] = lost.get(key, 0) + 1
                what = f"{unit[2]} {unit[0].name} (seed {unit[1]}): its Ray worker died ({type(err).__name__})"
                if lost[key] > options.retries:
                    raise WorkerLost(f"{what} {lost[key]} times; the run stops (run it again to go on)") from None
                print(f"{what}; submitting it again", file=sys.stderr, flush=True)
                waiting.insert(0, unit)
            else:
                record(unit, result, seconds)
            submit()
    finally:
        for ref in flying:
            ray.cancel(ref, force=True)
        if own:
            ray.shutdown()


EXECUTORS: dict[str, Callable[..., None]] = {"inprocess": run_inprocess, "ray": run_ray}


def get_executor(name: str) -> Callable[..., None]:
    if name not in EXECUTORS:
        raise ValueError(f"executor: unknown {name!r}; executors: {', '.join(sorted(EXECUTORS))}")
    if name == "ray":
        _ray()  # not installed: one error before the run starts
    return EXECUTORS[name]
