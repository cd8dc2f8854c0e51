"""Resumable training checkpoints, for every method (pipelines stage by stage).

With ``checkpoint_every`` set (``"50steps"``, ``"5min"``), a run writes a resumable
checkpoint into ``OUT.resume/checkpoint-<step>/`` beside its output ``OUT``, keeps the
last two and removes the folder once ``OUT`` is written. ``train(..., resume=True)``
(``sparring train ... --resume``) continues from the newest *complete* one.

What is where:

- transformers' own checkpoint (``save_strategy="steps"`` / ``save_steps``, or this
  module's callback for a time interval): weights, optimizer, scheduler, RNG states and
  ``trainer_state.json`` (global step, tokens seen, log history). ``trainer.train(
  resume_from_checkpoint=...)`` restores them and skips the batches of the current epoch
  already trained; the samplers' ``set_epoch`` (``BucketBatchSampler``,
  ``trainers.EpochRepeatSampler``) makes that epoch's order the same.
- ``sparring-state.json``: what transformers does not know: the budget spent
  (``BudgetTracker.state_dict``: FLOPs, wall seconds, the schedule's anchor), the run's
  identity (method, config, budget, base, task, data hash; a resume of a different run is
  refused) and the evaluation of the base before training (not redone).
- the trainer's own state, when it has any (``save_sparring_state(folder)`` /
  ``load_sparring_state(folder)`` on the trainer): GRPO's success-replay store, the RoC
  selector's and RARO's random generators, RARO's replay buffer, history and warm-up flag,
  and a separate RARO critic's weights and optimizer.
- ``sparring-complete.json``, written last: the step and every file's size.
- Several processes (docs/distributed.md): every rank's own state (``rng_state_R.pth``,
  ``sparring-trainer-rankR.json``) is in the same checkpoint, rank 0 completes it, and a
  resume needs the same number of processes (``world_size`` in ``sparring-state.json``).

transformers writes into ``OUT.resume/.staging/``; when it is done (``on_save``) the
files are moved into a fresh directory that is renamed into place (``sparring.atomic``),
so ``checkpoint-<step>`` never holds a half-written checkpoint under its name. A
checkpoint whose marker is missing or unreadable, whose files are missing or of another
size, or whose state files do not parse is skipped with a one-line warning and the
previous one is used.

A trainer that reuses one generated batch for several steps (GRPO's ``num_iterations``)
is only checkpointed at a step where the next batch is generated afresh (``align``): a
checkpoint never has to hold a half-used batch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from sparring.atomic import atomic_dir

from .budget import parse_every
from .distributed import barrier, is_main, world_size
from .markers import read_marker

SUFFIX = ".resume"
PREFIX = "checkpoint-"
STATE = "sparring-state.json"
MARKER = "sparring-complete.json"
STAGING = ".staging"
FORMAT = "sparring.resume/1"
KEEP = 2
TRAINER_STATE = "trainer_state.json"  # transformers' TRAINER_STATE_NAME

# Options that do not change what a run computes: a resume may change them.
_FREE = ("checkpoint_every", "show_progress", "device", "report_to", "log_dir")

_RESUME: ContextVar[bool] = ContextVar("sparring_resume", default=False)


@contextmanager
def resume_requested(flag: bool) -> Iterator[None]:
    """While inside, a resumable method continues from its last checkpoint (``train()``
    sets it; the method signature ``fn(base, task, config, out, budget)`` stays as it is)."""
    token = _RESUME.set(bool(flag))
    try:
        yield
    finally:
        _RESUME.reset(token)


def resume_wanted() -> bool:
    """Whether the running method was asked to continue from its last checkpoint."""
    return _RESUME.get()


def resume_dir(out: Path) -> Path:
    """Where the resumable checkpoints of a run writing ``out`` live (a sibling, so it
    survives the process and sits on the same filesystem)."""
    out = Path(out)
    return out.parent / f"{out.name}{SUFFIX}"


def warn(message: str) -> None:
    if not is_main():  # several ranks: one line, not one per rank
        return
    print(f"warning: {message}", file=sys.stderr, flush=True)


def step_of(path: Path) -> int | None:
    name = path.name
    if not name.startswith(PREFIX) or not name[len(PREFIX) :].isdigit():
        return None
    return int(name[len(PREFIX) :])


def checkpoints(root: Path) -> list[Path]:
    """The ``checkpoint-<step>`` directories under ``root``, newest (highest step) first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and step_of(p) is not None]
    return sorted(found, key=step_of, reverse=True)  # type: ignore[arg-type]


def _manifest(path: Path) -> dict[str, int]:
    return {
        str(f.relative_to(path)): f.stat().st_size for f in sorted(path.rglob("*")) if f.is_file() and f.name != MARKER
    }


def problem(path: Path) -> str | None:
    """Why the checkpoint at ``path`` cannot be resumed from, or None if it is complete."""
    marker, why = read_marker(path, MARKER, FORMAT, "step", step_of(path))
    if why is not None:
        return why
    for name, step in (
        (STATE, lambda d: d.get("tracker", {}).get("steps")),
        (TRAINER_STATE, lambda d: d.get("global_step")),
    ):
        if name not in marker["files"]:
            return f"{name} is missing"
        try:
            data = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            return f"unreadable {name}: {err}"
        if not isinstance(data, dict) or step(data) != step_of(path):
            return f"{name} is not at step {step_of(path)}"
    return None


def last_complete(root: Path) -> Path | None:
    """The newest complete checkpoint under ``root``; each newer damaged one is reported
    in one line and skipped."""
    for path in checkpoints(root):
        why = problem(path)
        if why is None:
            return path
        warn(f"resume: skipping {path}: {why}; trying the previous checkpoint")
    return None


def run_key(method: str, cfg, budget, base: str, task, data: dict) -> dict[str, Any]:
    """What a checkpoint must agree on with the run resuming it."""
    config = {k: v for k, v in cfg.to_dict().items() if k not in _FREE}
    return json.loads(
        json.dumps(
            {
                "method": method,
                "config": config,
                "budget": budget.to_dict(),
                "base": str(base),
                "task": {"name": task.name, **task.config_dict()},
                "data": data.get("hash"),
            },
            sort_keys=True,
            default=str,
        )
    )


def check_key(old: dict, new: dict, where, what: str) -> None:
    """One ValueError naming what differs (``config.<option>`` for an option) when the
    checkpoint at ``where`` was written under the run key ``old`` and this run's is ``new``."""
    differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if "config" in differ:
        a, b = old.get("config") or {}, new.get("config") or {}
        differ.remove("config")
        differ += sorted(f"config.{k}" for k in set(a) | set(b) if a.get(k) != b.get(k))
    if differ:
        raise ValueError(
            f"{what}: --resume: {where} was written by a different run "
            f"({', '.join(differ)} differ); run the same command, or drop --resume to start over"
        )


def checkpoints_for(method: str, cfg, budget, base: str, task, data: dict, out: Path) -> "Checkpoints":
    """The checkpoints of the run of ``method`` writing ``out``: the interval from
    ``cfg.checkpoint_every``, the run's identity from :func:`run_key`, resuming if
    ``train(..., resume=True)`` asked."""
    key = run_key(method, cfg, budget, base, task, data)
    return Checkpoints(out, cfg.checkpoint_every, key, resume=resume_wanted(), what=method)


class Checkpoints:
    """One run's resumable checkpoints: where they go, which one to start from, the
    trainer arguments and callback that write them."""

    def __init__(self, out: Path, every: str | None, key: dict, *, resume: bool, what: str):
        self.root = resume_dir(out)
        self.staging = self.root / STAGING
        self.every = parse_every(every)
        self.key = key
        self.what = what
        self.start: Path | None = None
        self.state: dict[str, Any] = {}
        if resume:
            self.start = last_complete(self.root)
            if self.start is None:
                warn(f"{what}: --resume: no complete checkpoint in {self.root}; starting from step 0")
            else:
                self.state = json.loads((self.start / STATE).read_text(encoding="utf-8"))
                self._check_key()
                self._check_world()
                if is_main():
                    print(f"{what}: resuming from step {self.step} ({self.start})", file=sys.stderr, flush=True)
        elif self.every is not None and self.root.exists() and is_main():
            if checkpoints(self.root):
                warn(
                    f"{what}: starting over; removing the checkpoints of an earlier run in {self.root} (--resume continues it)"
                )
            shutil.rmtree(self.root)  # a fresh start: an older run's checkpoints must not be resumed into
        if self.every is not None and is_main():
            shutil.rmtree(self.staging, ignore_errors=True)  # what a killed process was writing
        barrier()  # several ranks: none starts before rank 0 has cleared the way

    def _check_key(self) -> None:
        check_key(self.state.get("key", {}), self.key, self.start, self.what)

    def _check_world(self) -> None:
        """Each rank resumes its own state (its RNG, its generators): the same number of them."""
        had, have = int(self.state.get("world_size", 1)), world_size()
        if had != have:
            raise ValueError(
                f"{self.what}: --resume: {self.start} was written by {had} process(es), this run has {have}; "
                f"resume with --processes {had}"
            )

    @property
    def step(self) -> int | None:
        """The step resumed from (None: a fresh start)."""
        return None if self.start is None else step_of(self.start)

    @property
    def saved(self) -> dict[str, Any]:
        """The extra state saved with the checkpoint resumed from (``{}`` on a fresh start)."""
        return self.state.get("extra", {}) if self.start is not None else {}

    def saved_or(self, key: str, compute):
        """What the checkpoint resumed from saved under ``key`` (e.g. the evaluation of the
        base before the first step: not redone), else ``compute()``."""
        return self.saved[key] if self.start is not None else compute()

    def describe(self, what: str) -> str:
        """The progress bar's label: ``what``, and from which step it resumed."""
        return what if self.step is None else f"{what} from step {self.step}"

    def mark(self, spent: dict[str, Any]) -> dict[str, Any]:
        """run.json's ``metrics.train``, with the step resumed from (if any)."""
        return spent if self.step is None else {**spent, "resumed_from_step": self.step}

    def output_dir(self, scratch: str) -> str:
        """The Trainer's output_dir: the staging folder when checkpoints are written
        (same filesystem as ``OUT.resume``), else the throwaway ``scratch``."""
        if self.every is None:
            return scratch
        return str(self.staging)  # created by transformers' first save: a run that writes none leaves nothing

    def trainer_args(self) -> dict[str, Any]:
        """TrainingArguments for the checkpoints: transformers' ``save_steps`` for a step
        interval; a time interval is triggered by :class:`CheckpointCallback`."""
        if self.every is None:
            return {}
        kind, n = self.every
        if kind == "steps":
            return {"save_strategy": "steps", "save_steps": int(n), "save_only_model": False}
        return {"save_strategy": "no", "save_only_model": False}

    def attach(self, trainer, tracker, extra: dict[str, Any], align: int = 1) -> None:
        """Restore the budget spent and the trainer's own state (on a resume) and add the
        callback that completes each checkpoint. ``extra`` is saved too and comes back as
        :attr:`saved`; checkpoints fall only on steps that are multiples of ``align``."""
        if self.start is not None:
            tracker.load_state_dict(self.state["tracker"])
            if hasattr(trainer, "load_sparring_state"):
                trainer.load_sparring_state(self.start)
        if self.every is not None:
            seconds = self.every[1] if self.every[0] == "seconds" else None
            trainer.add_callback(CheckpointCallback(self, trainer, tracker, extra, seconds, align))

    def resume_from(self) -> str | None:
        return None if self.start is None else str(self.start)

    def train(self, trainer) -> None:
        """``trainer.train()``, from the checkpoint resumed from (if any). A run that fails
        with an exception leaves its complete checkpoints (to resume from) and nothing else:
        no staging folder, and no ``OUT.resume/`` when it wrote no checkpoint."""
        try:
            trainer.train(resume_from_checkpoint=self.resume_from())
        except BaseException:
            if is_main():
                shutil.rmtree(self.staging, ignore_errors=True)
                if self.root.is_dir() and not checkpoints(self.root):
                    shutil.rmtree(self.root, ignore_errors=True)
            raise

    def finish(self, step: int, tracker, extra: dict[str, Any], trainer=None) -> Path:
        """Move transformers' ``checkpoint-<step>`` out of staging, with sparring's state
        (and ``trainer``'s, if it keeps any) and the completion marker, into
        ``OUT.resume/checkpoint-<step>`` in one rename; then keep the newest ``KEEP``
        complete ones.

        Several ranks (one filesystem): each writes its own trainer state into the staging
        folder beside transformers' files (its ``rng_state_R.pth``); after a barrier rank 0
        alone completes the checkpoint, and a second barrier keeps the others from going on
        before it is in place."""
        src = self.staging / f"{PREFIX}{step}"
        final = self.root / f"{PREFIX}{step}"
        if hasattr(trainer, "save_sparring_state"):
            src.mkdir(parents=True, exist_ok=True)
            trainer.save_sparring_state(src)
        barrier()
        if is_main():
            self._complete(src, final, step, tracker, extra)
        barrier()
        return final

    def _complete(self, src: Path, final: Path, step: int, tracker, extra: dict[str, Any]) -> None:
        state = {
            "format": FORMAT,
            "key": self.key,
            "tracker": tracker.state_dict(),
            "extra": extra,
            "world_size": world_size(),
        }
        with atomic_dir(final) as tmp:
            for entry in src.iterdir():
                os.rename(entry, tmp / entry.name)
            (tmp / STATE).write_text(json.dumps(state, sort_keys=True, default=str), encoding="utf-8")
            marker = {"format": FORMAT, "step": step, "files": _manifest(tmp), "written": time.time()}
            (tmp / MARKER).write_text(json.dumps(marker, sort_keys=True), encoding="utf-8")
        shutil.rmtree(src, ignore_errors=True)
        self.prune(final)

    def prune(self, newest: Path) -> None:
        kept = [newest]
        for path in checkpoints(self.root):
            if path == newest:
                continue
            if len(kept) < KEEP and step_of(path) < step_of(newest) and problem(path) is None:  # type: ignore[operator]
                kept.append(path)
            else:
                shutil.rmtree(path, ignore_errors=True)

    def done(self) -> None:
        """The run's output is written: its resumable checkpoints are no longer needed."""
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)


class CheckpointCallback(TrainerCallback):
    """Asks for a checkpoint every ``seconds`` (a step interval is transformers'
    ``save_steps``), never at the step that ends training (the final model is written
    anyway), and only at a step that is a multiple of ``align`` (a save asked for in
    between waits for the next such step); completes each checkpoint transformers saved
    (``Checkpoints.finish``)."""

    def __init__(self, ckpts: Checkpoints, trainer, tracker, extra: dict[str, Any], seconds: float | None, align: int):
        self.ckpts, self.trainer, self.tracker, self.extra = ckpts, trainer, tracker, extra
        self.seconds, self.align = seconds, max(1, int(align))
        self.last = time.perf_counter()
        self.pending = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        due = self.seconds is not None and time.perf_counter() - self.last >= self.seconds
        self.pending = self.pending or due or bool(control.should_save)
        # added after BudgetCallback, so its stop is already decided: no save at the last step
        control.should_save = self.pending and state.global_step % self.align == 0 and not control.should_training_stop
        if control.should_save:
            self.pending = False
        return control

    def on_save(self, args, state, control, **kwargs):
        self.ckpts.finish(int(state.global_step), self.tracker, self.extra, self.trainer)
        self.last = time.perf_counter()
        return control


def rng_state(rng) -> list:
    """A ``random.Random``'s state as JSON (``set_rng_state`` restores it)."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng, state: list) -> None:
    rng.setstate((state[0], tuple(state[1]), state[2]))
