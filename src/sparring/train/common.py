"""Plumbing every method shares: resolving the task and the base model, checking a
dataset, TRL arguments from device defaults, evaluating, and writing the checkpoint.

A checkpoint is a ``save_pretrained`` directory plus ``run.json``, a
:class:`sparring.models.RunCard` (its schema is documented there), written atomically
(``sparring.models.save_model`` builds it aside, then renames).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from sparring.models import (
    RUN_CARD,
    ZOO_CARD,
    RunCard,
    configure_threads,
    device_defaults,
    load_model,
    resolve_model_source,
    save_model,
    trl_args_overrides,
)
from sparring.tasks import Task, get_task

from . import distributed
from .budget import Budget
from .config import MethodConfig
from .evaluate import test_accuracy


def resolve_task(task: Any) -> Task:
    """A Task from a Task, a name, or a dict ``{"name": ..., **config}``."""
    if isinstance(task, Task):
        return task
    if isinstance(task, str):
        return get_task(task)
    if isinstance(task, dict):
        cfg = dict(task)
        name = cfg.pop("name", None)
        if not isinstance(name, str):
            raise ValueError("task: a task dict needs a 'name'")
        return get_task(name, **cfg)
    raise ValueError(f"task: expected a task name or Task, got {type(task).__name__}")


def check_base(base: Any) -> str:
    """Raise ValueError early if ``base`` names no preset, zoo model or model directory."""
    if not isinstance(base, (str, os.PathLike)):
        raise ValueError(f"base: expected a preset, 'zoo:NAME' or a path, got {type(base).__name__}")
    kind, source = resolve_model_source(str(base) if isinstance(base, os.PathLike) else base)
    return str(source)


def with_style(cfg: MethodConfig, base: Any, task: Task) -> MethodConfig:
    """``cfg`` with its style resolved for ``base`` (``auto`` -> char or chat); a style the
    base's tokenizer or the task cannot serve, or an option the resolved style rules out
    (``cfg.check_resolved``), is one ValueError, before any model loads."""
    from dataclasses import replace

    from sparring.models.style import style_of_model

    style = style_of_model(cfg.style, base, f"{cfg.method_name}.style")
    if style not in task.styles:
        raise ValueError(f"{cfg.method_name}.style: task {task.name} has no {style} style (it has {list(task.styles)})")
    resolved = cfg if style == cfg.style else replace(cfg, style=style)
    resolved.check_resolved(task)
    return resolved


def lora_base(base: Any) -> str:
    """The full model under an adapter trained from ``base``: ``base`` itself (a preset,
    ``zoo:NAME``, or a directory as an absolute path), or, when ``base`` is an adapter
    directory, the base it was trained on."""
    from sparring.models.adapters import adapter_base, is_adapter_dir

    kind, source = resolve_model_source(str(base))
    if kind == "dir" and is_adapter_dir(source):
        return adapter_base(source)
    return str(base) if kind == "preset" or str(base).startswith("zoo:") else str(source)


def base_card(base: Any) -> dict:
    """What the run card records about the base: what was asked, and its own card's hash."""
    kind, source = resolve_model_source(str(base))
    info: dict[str, Any] = {"name": str(base), "kind": kind}
    if kind == "dir":
        info["path"] = str(source)
        card = Path(source) / RUN_CARD
        if not card.is_file():
            card = Path(source) / ZOO_CARD
        if card.is_file():
            info["card_sha256"] = hashlib.sha256(card.read_bytes()).hexdigest()[:16]
    return info


def load_for_training(base: Any, cfg: MethodConfig, fresh: tuple | None = None):
    """(model, tokenizer, device defaults): float32 weights on the configured device,
    threads set, model in train mode, right padding. With ``cfg.lora`` the model is a peft
    model training a LoRA adapter (a base that is an adapter keeps training its adapter);
    without, an adapter base is merged and every weight trains (``lora.py``). ``fresh``: a
    (model, tokenizer) pair already built (a chat preset's, ``pretrain``) instead of
    loading ``base``."""
    from .lora import add_adapter, is_adapter

    dd = device_defaults(cfg.device)
    configure_threads(dd)
    lora = cfg.lora_options()
    if fresh is not None:
        model, tok = fresh[0].to(dd.device), fresh[1]
    else:
        model, tok = load_model(base, device=dd.device, adapter="train" if lora else "merge")
    if lora is not None and not is_adapter(model):
        import torch

        with torch.random.fork_rng(devices=[]):  # the adapter's init follows the run's seed only
            torch.manual_seed(cfg.seed)
            model = add_adapter(model, lora, f"{cfg.method_name}.lora")
    tok.padding_side = "right"
    if getattr(model.generation_config, "stop_strings", None) is not None:
        # a self-eval checkpoint's end of answer: trainers sample whole completions (and
        # transformers would fill TRL's generation config with it)
        model.generation_config.stop_strings = None
    model.train()
    return model, tok, dd


def require_columns(ds, columns: tuple[str, ...] | list[str], what: str) -> None:
    """Raise ValueError if the dataset lacks any of ``columns``."""
    have = set(getattr(ds, "column_names", []) or [])
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"{what}: the dataset lacks column(s) {missing} (it has {sorted(have)})")
    if len(ds) == 0:
        raise ValueError(f"{what}: the dataset is empty")


def versions() -> dict[str, str]:
    import transformers
    import trl

    from sparring import __version__ as sparring_version

    return {
        "sparring": sparring_version,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "python": platform.python_version(),
    }


@contextmanager
def scratch_dir() -> Iterator[str]:
    """A throwaway output_dir for the Trainer (sparring writes its own checkpoint)."""
    path = tempfile.mkdtemp(prefix="sparring-trainer-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def trainer_kwargs(cfg: MethodConfig, budget: Budget, output_dir: str, dd) -> dict[str, Any]:
    """TrainingArguments fields shared by every method (TRL config subclasses accept them)."""
    kw = trl_args_overrides(dd)
    kw.update(
        output_dir=output_dir,
        max_steps=budget.max_steps,
        logging_steps=cfg.logging_steps,
        save_strategy="no",
        eval_strategy="no",
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=True,
        lr_scheduler_type="constant",
        warmup_steps=0,
        report_to=cfg.report_to,
        ddp_find_unused_parameters=False,  # every parameter takes part in every forward
    )
    if cfg.fsdp and distributed.world_size() > 1:  # FSDP2 (torch fully_shard), also on CPU over gloo
        kw.update(fsdp="full_shard", fsdp_config={"fsdp_version": 2, "reshard_after_forward": True})
    return kw


def evaluate(model, tok, task: Task, cfg: MethodConfig, when: str = "after") -> dict | None:
    """Greedy held-out accuracy for run.json; rank 0 alone evaluates (other ranks: None)."""
    if cfg.eval_problems <= 0 or (when == "before" and not cfg.eval_before) or not distributed.is_main():
        return None
    if distributed.world_size() > 1:
        print(f"[rank 0 of {distributed.world_size()}] evaluating {when} training", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    out = test_accuracy(
        model,
        tok,
        task,
        cfg.eval_problems,
        max_new_tokens=cfg.eval_tokens(),
        style=cfg.style,
        chat_format=cfg.chat_format(),
    )
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def train_metrics(trainer, tracker) -> dict[str, Any]:
    """Final training numbers from the trainer's log history: what was spent (steps,
    tokens, seconds, FLOPs and their split by kind of pass, ``flops.py``) and the curves."""
    hist = [h for h in trainer.state.log_history if "loss" in h or "reward" in h]
    out: dict[str, Any] = {
        "steps": int(trainer.state.global_step),
        "tokens": tracker.tokens,
        "seconds": round(tracker.elapsed, 2),
        "flops": tracker.flops,
        "flops_by_kind": dict(sorted(tracker.ledger.parts.items())),
        "world_size": distributed.world_size(),
        # rows per optimizer step over every rank (GRPO: rollouts, before a selector)
        "global_batch": trainer.args.per_device_train_batch_size
        * trainer.args.gradient_accumulation_steps
        * distributed.world_size(),
    }
    if tracker.elapsed > 0 and tracker.tokens:
        out["tokens_per_second"] = round(tracker.tokens / tracker.elapsed, 1)
    summary = [h for h in trainer.state.log_history if "train_loss" in h]
    if summary:
        out["train_loss"] = summary[-1]["train_loss"]
    keep = ("loss", "reward", "grad_norm", "entropy", "frac_reward_zero_std", "learning_rate", "replay/groups_filled")
    at = tracker.flops_at_step  # cumulative FLOPs at each step's end
    out["log_history"] = [
        {
            "step": h.get("step"),
            **({"flops": at[h["step"]]} if h.get("step") in at else {}),
            **{k: h[k] for k in keep if isinstance(h.get(k), (int, float))},
        }
        for h in hist[-1000:]
    ]
    for key in keep:
        vals = [h[key] for h in hist if isinstance(h.get(key), (int, float))]
        if vals:
            out[f"first_{key}"] = vals[0]
            out[f"last_{key}"] = vals[-1]
    return out


SPENT = ("steps", "tokens", "seconds", "flops")  # what a run's metrics.train says it spent


def spent_total(stages: list[dict | None]) -> dict[str, Any]:
    """A pipeline's spend: the sum over its stages' ``metrics.train`` (a stage run before
    FLOPs were counted adds nothing to ``flops``)."""
    out: dict[str, Any] = {}
    for key in SPENT:
        vals = [st.get(key) for st in stages if isinstance(st, dict) and isinstance(st.get(key), (int, float))]
        out[key] = round(sum(vals), 2) if key == "seconds" else int(sum(vals))
    kinds: dict[str, int] = {}
    for st in stages:
        for kind, n in ((st or {}).get("flops_by_kind") or {}).items():
            kinds[kind] = kinds.get(kind, 0) + int(n)
    out["flops_by_kind"] = dict(sorted(kinds.items()))
    return out


def check_finite(model, what: str) -> None:
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise RuntimeError(f"{what}: training produced non-finite weights in {name}; lower the learning rate")


def write_checkpoint(
    model,
    tok,
    out_dir,
    *,
    method: str,
    cfg: MethodConfig,
    budget: Budget,
    base: Any,
    task: Task,
    data: dict,
    metrics: dict,
    extra: dict | None = None,
) -> RunCard:
    """Save model + tokenizer + run.json atomically; returns the card (``card.path``)."""
    from .lora import is_adapter

    check_finite(model, method)
    if is_adapter(model):  # the adapter's base: what loading it (and `sparring merge`) starts from
        extra = {**(extra or {}), "lora_base": lora_base(base)}
    card = run_card(method, cfg.to_dict(), budget, base, task, data, metrics, extra)
    model.eval()
    model.config.use_cache = True  # trainers switch it off; generation from the checkpoint wants it
    card.path = save_model(model, tok, out_dir, card=card)
    return card


def written_once(write, out_dir) -> RunCard:
    """``write()`` (evaluate, then write the checkpoint; returns its card) on rank 0 alone;
    the other ranks wait for it and return the card rank 0 wrote. In one process: ``write()``."""
    if distributed.world_size() <= 1:
        return write()
    card = write() if distributed.is_main() else None
    distributed.barrier()
    return card if card is not None else RunCard.read(check_out_dir(out_dir))


def as_card(result: Any) -> RunCard:
    """What a method returned, as a card (a method registered outside sparring may return
    its checkpoint's path)."""
    return result if isinstance(result, RunCard) else RunCard.read(result)


def run_card(
    method: str,
    config: dict,
    budget: Budget,
    base: Any,
    task: Task,
    data: dict,
    metrics: dict,
    extra: dict | None = None,
) -> RunCard:
    """The card of a run that just finished (stamped with versions, time and argv)."""
    return RunCard(
        method=method,
        config=config,
        budget=budget.to_dict(),
        base=base_card(base),
        task={"name": task.name, **task.config_dict()},
        data=data,
        versions=versions(),
        metrics=metrics,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        argv=list(sys.argv),
        extra=dict(extra or {}),
    )


def check_out_dir(out_dir: Any) -> Path:
    if not isinstance(out_dir, (str, os.PathLike)) or str(out_dir) == "":
        raise ValueError(f"out_dir: expected a directory path, got {out_dir!r}")
    out = Path(out_dir).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: exists and is not a directory: {out}")
    return out
