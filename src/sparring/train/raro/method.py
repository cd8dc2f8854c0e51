"""The ``raro`` method: the registered run (data, models, trainer, checkpoint)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..budget import Budget
from ..registry import register_method
from .options import CRITIC_DIR, RAROOptions

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from pathlib import Path

    from sparring.runcard import RunCard
    from sparring.tasks import Task


def expert_dataset(task, cfg: RAROOptions):
    """(prompt, expert, problem) rows, one per question, from the demonstrations recipe in
    the config's style; in chat style the prompt is a conversation (TRL renders it for the
    policy) and the expert the assistant message's text."""
    from sparring.rewards import completion_text

    from ..data import config_dataset, is_conversational

    ds, card = config_dataset(cfg, task, columns=("prompt", "completion"), what="raro")
    if is_conversational(ds):
        fmt = cfg.chat_format()
        ds = ds.map(
            lambda row: {"prompt": fmt.apply(row["prompt"]), "completion": completion_text(row["completion"])},
            desc="conversations",
        )
    if "problem_id" in ds.column_names:
        seen: set[str] = set()
        keep = [i for i, pid in enumerate(ds["problem_id"]) if not (pid in seen or seen.add(pid))]
        if len(keep) < len(ds):
            ds = ds.select(keep)
    ds = ds.rename_column("completion", "expert")
    ds = ds.remove_columns([c for c in ds.column_names if c not in ("prompt", "expert", "problem")])
    card["rows"] = len(ds)
    return ds, card


@register_method("raro", RAROOptions, resumable=True)
def raro(base: str, t: Task, cfg: RAROOptions, out: Path, budget: Budget) -> RunCard:
    """RARO: policy vs a relativistic critic (the same model), demonstrations only, no verifier."""
    from sparring.models import atomic_dir, save_model

    from ..callbacks import attach_run
    from ..common import (
        evaluate,
        load_for_training,
        lora_base,
        scratch_dir,
        train_metrics,
        write_checkpoint,
        written_once,
    )
    from ..grpo import _reference_path
    from ..lora import is_adapter
    from ..resume import checkpoints_for
    from .judging import verified_stats
    from .options import trainer_args
    from .trainer import RAROTrainer

    ds, data_card = expert_dataset(t, cfg)
    model, tok, dd = load_for_training(base, cfg)
    critic = None if cfg.shared_critic else load_for_training(base, cfg)[0]
    ckpts = checkpoints_for("raro", cfg, budget, base, t, data_card, out)
    before = ckpts.saved_or("before", lambda: evaluate(model, tok, t, cfg, "before"))  # not redone on a resume
    with scratch_dir() as scratch, scratch_dir() as ref_dir:
        if cfg.beta > 0:  # TRL builds the KL reference from the model's path (as grpo does)
            _reference_path(model, tok, ref_dir)
        trainer = RAROTrainer(
            model=model,
            args=trainer_args(cfg, budget, ckpts.output_dir(scratch), dd, save=ckpts.trainer_args()),
            train_dataset=ds,
            processing_class=tok,
            options=cfg,
            critic_model=critic,
            monitor=(lambda rnd: verified_stats(t, rnd)) if cfg.monitor_every else None,
        )
        tracker = attach_run(trainer, cfg, out, budget, desc=ckpts.describe("raro"))
        ckpts.attach(trainer, tracker, {"before": before}, align=cfg.num_iterations)
        ckpts.train(trainer)
    model = trainer.model
    train = ckpts.mark(train_metrics(trainer, tracker))
    train["history"] = trainer.history
    for key in sorted({k for h in trainer.history for k in h if k != "step"}):
        vals = [h[key] for h in trainer.history if key in h]
        train[f"first_{key}"], train[f"last_{key}"] = vals[0], vals[-1]
    extra = {"raro": {"shared_critic": cfg.shared_critic, "labels": list(cfg.game().labels)}}

    def write() -> RunCard:  # rank 0 alone evaluates and writes
        metrics = {"train": train, "before": before, "after": evaluate(model, tok, t, cfg)}
        card = dict(method="raro", cfg=cfg, budget=budget, base=base, task=t, data=data_card, metrics=metrics)
        if critic is None:
            written = write_checkpoint(model, tok, out, **card, extra=extra)
            ckpts.done()
            return written
        with atomic_dir(out) as tmp:  # policy and critic appear together or not at all
            inner = write_checkpoint(model, tok, tmp / "policy", **card, extra=extra)
            for f in inner.path.iterdir():
                os.replace(f, tmp / f.name)
            inner.path.rmdir()
            critic.eval()
            # a separate critic trained as an adapter of its own: its base recorded for loading
            note = {"lora_base": lora_base(base)} if is_adapter(critic) else None
            save_model(critic, tok, tmp / CRITIC_DIR, card=note)
        inner.path = out
        ckpts.done()
        return inner

    return written_once(write, out)
