"""Enforcing a budget inside a transformers/TRL Trainer: the stopping callback with its
progress bar, and the learning-rate schedule that follows the budget's progress.

Progress is the largest used fraction of any limit, so the cosine schedule decays over
the budget itself: a 300-second run anneals over 300 seconds whatever its step rate.
FLOPs are counted by the trainers (``BudgetScheduleMixin.spend``, the rule in ``flops.py``)
into the tracker; the callback stops at the end of the first step that reaches a limit.

Data-parallel runs (``distributed.py``): every limit is global. Steps are shared; tokens are
the Trainer's (transformers and TRL sum them over ranks), plus tokens a method counts itself
(RARO's critic) summed by the tracker; each rank's FLOPs are summed over ranks; time is rank
0's clock. At each step's end :meth:`BudgetTracker.sync` exchanges one small message, so
every rank sees the same numbers, stops at the same step and anneals along the same
schedule (which, in several processes, sees the FLOPs and time at the previous step's end).
"""

from __future__ import annotations

import math
import time

import torch
from transformers import TrainerCallback

from .budget import Budget
from .flops import TRAIN, FlopLedger


class BudgetTracker:
    """Live view of how much of a budget a running Trainer has used."""

    def __init__(self, budget: Budget):
        self.budget = budget.validate()
        self.state = None
        self.t0: float | None = None
        self.ledger = FlopLedger()
        self.flops_at_step: dict[int, int] = {}  # cumulative FLOPs at the end of each step
        self.seconds_before = 0.0  # wall time spent before a resume (``load_state_dict``)
        self.lr_start: float | None = None  # progress when the warm-up ended (the schedule's anchor)
        self.world = 1  # ranks (attach_budget sets it); above 1, counts wait in pending until sync()
        self.pending: dict[str, int] = {}
        self.pending_tokens = 0
        self.synced_seconds: float | None = None

    def start(self, state) -> None:
        self.state = state
        if self.t0 is None:
            self.t0 = time.perf_counter()

    @property
    def own_elapsed(self) -> float:
        """This process's wall time since training started (plus the time before a resume)."""
        return self.seconds_before + (0.0 if self.t0 is None else time.perf_counter() - self.t0)

    @property
    def elapsed(self) -> float:
        """Training wall time: this process's clock; in several processes rank 0's at the
        last :meth:`sync` (the same number on every rank)."""
        if self.world <= 1:
            return self.own_elapsed
        return self.seconds_before if self.synced_seconds is None else self.synced_seconds

    @property
    def step(self) -> int:
        return 0 if self.state is None else int(self.state.global_step)

    @property
    def tokens(self) -> int:
        return 0 if self.state is None else int(self.state.num_input_tokens_seen or 0)

    @property
    def flops(self) -> int:
        return self.ledger.total

    def add_flops(self, kind: str, flops: int) -> None:
        if self.world <= 1:
            self.ledger.add(kind, flops)
        else:
            self.pending[kind] = self.pending.get(kind, 0) + int(flops)

    def add_tokens(self, n: int) -> None:
        """Tokens a method processed beyond the Trainer's own count (RARO's critic)."""
        if self.world <= 1:
            self.state.num_input_tokens_seen += int(n)
        else:
            self.pending_tokens += int(n)

    def sync(self) -> None:
        """Several ranks: add every rank's pending FLOPs and tokens, take rank 0's clock."""
        if self.world <= 1:
            return
        from .distributed import gather

        mine = (self.pending, self.pending_tokens, self.own_elapsed)
        self.pending, self.pending_tokens = {}, 0
        everyone = gather(mine)
        for flops, tokens, _ in everyone:
            for kind in sorted(flops):
                self.ledger.add(kind, flops[kind])
            self.state.num_input_tokens_seen += tokens
        self.synced_seconds = everyone[0][2]

    def state_dict(self) -> dict:
        """What a resumed run needs to go on spending the same budget (``resume.py``): the
        FLOPs (total, by kind, at each step's end), the wall time so far and the schedule's
        anchor. Steps and tokens live in the Trainer's own state (``global_step``,
        ``num_input_tokens_seen``), which transformers restores."""
        return {
            "flops": self.ledger.total,
            "flops_by_kind": dict(self.ledger.parts),
            "flops_at_step": {str(k): v for k, v in self.flops_at_step.items()},
            "seconds": self.elapsed,
            "lr_start": self.lr_start,
            "steps": self.step,
            "tokens": self.tokens,
        }

    def load_state_dict(self, state: dict) -> None:
        self.ledger.total = int(state["flops"])
        self.ledger.parts = {k: int(v) for k, v in state["flops_by_kind"].items()}
        self.flops_at_step = {int(k): int(v) for k, v in state["flops_at_step"].items()}
        self.seconds_before = float(state["seconds"])
        self.lr_start = None if state["lr_start"] is None else float(state["lr_start"])

    def progress(self) -> float:
        """The largest used fraction of any limit (>= 1 means the budget is spent)."""
        b, fracs = self.budget, [0.0]
        if b.steps is not None:
            fracs.append(self.step / b.steps)
        if b.tokens is not None:
            fracs.append(self.tokens / b.tokens)
        if b.seconds is not None:
            fracs.append(self.elapsed / b.seconds)
        if b.flops is not None:
            fracs.append(self.flops / b.flops)
        return max(fracs)


class BudgetCallback(TrainerCallback):
    """Stops training when the budget is spent; shows a progress bar of the budget."""

    def __init__(
        self,
        tracker: BudgetTracker,
        show_progress: bool = True,
        desc: str = "train",
        postfix_keys: tuple[str, ...] = ("loss", "reward"),
    ):
        self.tracker = tracker
        self.show_progress = show_progress
        self.desc = desc
        self.postfix_keys = postfix_keys
        self.bar = None
        self.last_logs: dict[str, float] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        self.tracker.start(state)
        if self.show_progress and state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=1000,
                desc=f"{self.desc} [{self.tracker.budget}]",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}",
            )

    def on_step_end(self, args, state, control, **kwargs):
        self.tracker.sync()  # several ranks: the same spend on every one before deciding
        self.tracker.flops_at_step[int(state.global_step)] = self.tracker.flops
        p = self.tracker.progress()
        if p >= 1.0:
            control.should_training_stop = True
        if self.bar is not None:
            self.bar.n = min(1000, int(p * 1000))
            post = {"step": state.global_step}
            post.update({k: f"{v:.3g}" for k, v in self.last_logs.items()})
            self.bar.set_postfix(post, refresh=True)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        for k in self.postfix_keys:
            if logs and k in logs and isinstance(logs[k], (int, float)):
                self.last_logs[k] = float(logs[k])

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def budget_lr_lambda(tracker: BudgetTracker, warmup_steps: int, min_lr_ratio: float):
    """Linear warm-up over ``warmup_steps`` steps, then cosine decay to ``min_lr_ratio``
    over the rest of the budget's progress (not over a step count fixed in advance). The
    progress at which the warm-up ended is kept on the tracker (``lr_start``), so a resumed
    run decays along the same curve."""

    def fn(_: int) -> float:
        step = tracker.step
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        p = min(1.0, tracker.progress())
        if tracker.lr_start is None:
            tracker.lr_start = p if p < 1.0 else 0.0
        start = tracker.lr_start
        frac = (p - start) / max(1e-9, 1.0 - start)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))

    return fn


class BudgetScheduleMixin:
    """Mix into a Trainer subclass: its learning-rate schedule follows ``self.budget_tracker``.

    The subclass sets ``budget_tracker``, ``warmup_steps`` and ``min_lr_ratio`` before
    training (see :func:`attach_budget`)."""

    budget_tracker: BudgetTracker
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1

    def spend(self, kind: str, model, lengths, passes: int = 1) -> None:
        """Count ``passes`` forwards of ``model`` over sequences of ``lengths`` tokens into
        the budget (``flops.py``: a training pass is 3 forwards, generating C tokens after
        P is a forward over P + C). Without a budget attached nothing is counted."""
        tracker = getattr(self, "budget_tracker", None)
        if tracker is None:
            return
        accelerator = getattr(self, "accelerator", None)
        inner = accelerator.unwrap_model(model) if accelerator is not None else model
        fm = tracker.ledger.model(inner)
        # a training pass (passes == TRAIN) by the rule's train(): frozen (LoRA) weights get no gradient
        tracker.add_flops(kind, fm.train(lengths) if passes == TRAIN else passes * fm.forward(lengths))

    def count_tokens(self, n: int) -> None:
        """Tokens processed outside the Trainer's own count (summed over ranks)."""
        tracker = getattr(self, "budget_tracker", None)
        if tracker is not None and tracker.state is not None:
            tracker.add_tokens(n)
        else:
            self.state.num_input_tokens_seen += int(n)

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            opt = optimizer if optimizer is not None else self.optimizer
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                opt, budget_lr_lambda(self.budget_tracker, self.warmup_steps, self.min_lr_ratio)
            )
            self._created_lr_scheduler = True
        return self.lr_scheduler


def attach_budget(
    trainer, budget: Budget, *, warmup_steps: int, min_lr_ratio: float, show_progress: bool = True, desc: str = "train"
) -> BudgetTracker:
    """Give ``trainer`` (a BudgetScheduleMixin subclass) a budget: the stopping callback,
    the progress bar (replacing the Trainer's own step bar) and the schedule."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from .distributed import world_size

    tracker = BudgetTracker(budget)
    tracker.world = world_size()
    trainer.budget_tracker = tracker
    trainer.warmup_steps = warmup_steps
    trainer.min_lr_ratio = min_lr_ratio
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(BudgetCallback(tracker, show_progress=show_progress, desc=desc))
    return tracker


def attach_run(trainer, cfg, out, budget: Budget, desc: str = "train") -> BudgetTracker:
    """What every method's trainer gets once built: TensorBoard logging where ``cfg`` asks
    for it (``reporting.attach_logging``) and ``budget`` with ``cfg``'s schedule
    (:func:`attach_budget`)."""
    from .reporting import attach_logging

    attach_logging(trainer, cfg, out)
    return attach_budget(
        trainer,
        budget,
        warmup_steps=cfg.warmup_steps,
        min_lr_ratio=cfg.min_lr_ratio,
        show_progress=cfg.show_progress,
        desc=desc,
    )
