"""Supervised fine-tuning on a corpus recipe, loss on the completion only (METHODS 1.1-1.3).

``sft`` trains on any recipe (imitation, noisy, verified, search, perturbed, ...);
``cft`` is the same trainer on the ``critique`` recipe (prompt = question + candidate
solution, completion = critique, so the loss falls on the critique only); ``one-shot-cft``
uses the ``one_shot_critique`` recipe (many critiques of solutions to one seed problem).
All run through ``trl.SFTTrainer`` with ``completion_only_loss=True`` (TRL appends the
EOS text to each completion) and a schedule that follows the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .budget import Budget
from .config import MethodConfig, opt
from .registry import register_method

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from pathlib import Path

    from sparring.runcard import RunCard
    from sparring.tasks import Task


AUTO_BATCH_MAX = 128  # batch_size 0 never goes above this (short solution rows reach it)


@dataclass
class SFTOptions(MethodConfig):
    recipe: str = opt(
        "imitation", "Corpus recipe (imitation, noisy, verified, search, perturbed, ...) or a saved dataset directory."
    )
    recipe_options: dict = opt({}, 'Options passed to the recipe, e.g. {"strategy": "bfs"}.')
    n: int = opt(20000, "Rows to build with the recipe (cycled for as many epochs as the budget allows).")
    learning_rate: float = opt(1e-3, "Peak AdamW learning rate.")
    batch_size: int = opt(
        0,
        "Sequences per optimizer step; 0: auto, as many as make ~batch_tokens "
        "tokens, at most 128 (imitation rows: 128; search traces: ~8).",
    )
    batch_tokens: int = opt(4096, "Tokens per optimizer step that batch_size 0 aims at (from the mean row).")
    micro_batch_tokens: int = opt(
        -1,
        "Split each optimizer step into gradient-accumulation passes of about "
        "this many tokens (same update); 0: one pass; -1: auto (2048 on CPU, "
        "where a narrow model's activations then stay in cache; one pass on GPU).",
    )
    warmup_steps: int = opt(10, "Linear warm-up steps; then cosine decay over the budget.")
    min_lr_ratio: float = opt(0.1, "Final learning rate as a fraction of the peak.")
    weight_decay: float = opt(0.0, "AdamW weight decay.")
    max_grad_norm: float = opt(1.0, "Gradient clipping norm.")
    max_length: int = opt(1024, "Truncate prompt + completion to this many tokens.")
    drop_long: bool = opt(False, "Drop rows longer than max_length instead of truncating them.")
    torch_compile: bool = opt(
        False,
        "torch.compile the model (TrainingArguments.torch_compile): ~1.25x faster "
        "steps on CPU after a compile of ~100 s (~13 s once inductor's cache is "
        "warm); see docs/benchmarks.md.",
    )
    bucket_by_length: bool = opt(
        True,
        "Draw each batch from one length bucket (<=64, <=128, ... tokens): "
        "long search traces do not pad batches of short solutions.",
    )

    method_name = "sft"

    def validate(self) -> None:
        super().validate()
        self.check_data_options()
        self.check_optimizer_options()
        self.check_int("batch_size", lo=0)
        self.check_int("batch_tokens", lo=1)
        self.check_int("micro_batch_tokens", lo=-1)
        self.check_float("weight_decay", lo=0.0)
        self.check_int("max_length", lo=8)
        self.check_bool("bucket_by_length")
        self.check_bool("drop_long")
        self.check_bool("torch_compile")


@dataclass
class CFTOptions(SFTOptions):
    recipe: str = opt("critique", "Corpus recipe of (question + candidate solution -> critique) rows.")
    n: int = opt(20000, "Critique rows to build.")
    batch_size: int = opt(
        16,
        "Sequences per optimizer step (critiques are ~10x longer than solutions: "
        "at 128 a 5-minute CPU run got 51 steps and never learned the format).",
    )
    method_name = "cft"


@dataclass
class OneShotCFTOptions(SFTOptions):
    recipe: str = opt("one_shot_critique", "Corpus recipe: many critiques of solutions to one seed problem.")
    n: int = opt(600, "Critique rows to build (the published recipe kept ~600).")
    batch_size: int = opt(16, "Sequences per optimizer step (cft's default).")
    method_name = "one-shot-cft"


CPU_MICRO_BATCH_TOKENS = 2048  # micro_batch_tokens -1 on a CPU (bench/train.py: batch 64 vs 128 rows)


def accumulation_passes(batch_size: int, mean_tokens: float, micro_batch_tokens: int, dd) -> int:
    """How many gradient-accumulation passes an optimizer step of ``batch_size`` rows of
    ``mean_tokens`` tokens takes: the divisor of ``batch_size`` nearest to
    tokens / ``micro_batch_tokens`` (each pass gets the same number of rows; the update is
    the one-pass update up to float rounding, since TRL normalises the loss over the whole
    step's completion tokens)."""
    micro = micro_batch_tokens
    if micro < 0:
        micro = CPU_MICRO_BATCH_TOKENS if str(getattr(dd, "device", "cpu")).startswith("cpu") else 0
    if micro == 0 or batch_size <= 1:
        return 1
    want = max(1.0, batch_size * mean_tokens / micro)
    divisors = [d for d in range(1, batch_size + 1) if batch_size % d == 0]
    return min(divisors, key=lambda d: (abs(d - want), d))


def sft_config(
    cfg: SFTOptions, budget: Budget, output_dir: str, dd, mean_tokens: float = 0.0, save: dict | None = None
):
    """TRL's SFTConfig for ``cfg``; ``mean_tokens`` (the mean row length) sizes the
    gradient-accumulation passes (0, unknown: one pass); ``save`` overrides the
    checkpoint arguments (``resume.Checkpoints.trainer_args``)."""
    from trl import SFTConfig

    from .common import trainer_kwargs
    from .distributed import per_rank

    rows = per_rank(cfg.batch_size, f"{cfg.method_name}.batch_size")  # the batch is global: each rank's share
    passes = accumulation_passes(rows, mean_tokens, cfg.micro_batch_tokens, dd)
    return SFTConfig(
        **{**trainer_kwargs(cfg, budget, output_dir, dd), **(save or {})},
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=rows // passes,
        gradient_accumulation_steps=passes,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        max_length=None,
        completion_only_loss=True,
        packing=False,
        dataset_num_proc=None,
        torch_compile=cfg.torch_compile,
        include_num_input_tokens_seen="non_padding",
    )


def tokenized_rows(rows, tok, cfg: SFTOptions, what: str):
    """Prompt/completion rows tokenized for SFT (``data.tokenize_sft``) and ``cfg`` with an
    auto ``batch_size`` (0) resolved from the mean row length: ``(dataset, mean tokens,
    cfg)``. No row fitting ``max_length`` is one ValueError naming ``what``."""
    from .data import tokenize_sft
    from .distributed import world_size

    ds = tokenize_sft(rows, tok, cfg.max_length, cfg.drop_long, chat_format=cfg.chat_format())
    if len(ds) == 0:
        raise ValueError(f"{what}: no row fits max_length={cfg.max_length}")
    sample = ds.select(range(min(4096, len(ds))))["input_ids"]  # not the whole column
    mean = sum(len(x) for x in sample) / len(sample)
    if cfg.batch_size == 0:  # auto: a step of ~batch_tokens tokens, whatever the recipe's row length
        ranks = world_size()  # several ranks: a multiple of their number (each takes a share)
        auto = max(1, min(AUTO_BATCH_MAX, round(cfg.batch_tokens / mean)))
        cfg = replace(cfg, batch_size=max(ranks, auto // ranks * ranks))
    return ds, mean, cfg


def sft_trainer(
    model, tok, dd, ds, cfg: SFTOptions, budget: Budget, output_dir: str, mean: float, out, *, desc: str, save=None
):
    """``(trainer, budget tracker)``: TRL's SFTTrainer (sparring's subclass) over the
    tokenized ``ds`` with the budget's stopping callback and schedule and the logging
    ``cfg`` asks for; not yet trained (the caller runs ``trainer.train()``)."""
    from .callbacks import attach_run
    from .trainers import SparringSFTTrainer

    args = sft_config(cfg, budget, output_dir, dd, mean, save=save)
    trainer = SparringSFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    trainer.bucket_by_length = cfg.bucket_by_length
    tracker = attach_run(trainer, cfg, out, budget, desc=desc)
    return trainer, tracker


def _run(method: str, base: str, task: Task, cfg: SFTOptions, out: Path, budget: Budget, init=None) -> RunCard:
    """The SFT run shared by sft, cft, one-shot-cft and pretrain (parsed values only);
    ``init(rows)``: the fresh (model, tokenizer) to train, built from the corpus rows (a
    chat preset's, ``pretrain``), instead of loading ``base``."""
    from .common import evaluate, load_for_training, scratch_dir, train_metrics, write_checkpoint, written_once
    from .data import config_dataset
    from .distributed import is_main
    from .resume import checkpoints_for

    ds, data = config_dataset(cfg, task, columns=("prompt", "completion"), what=method)
    model, tok, dd = load_for_training(base, cfg, fresh=init(ds) if init is not None else None)
    ds, mean, cfg = tokenized_rows(ds.select_columns(["prompt", "completion"]), tok, cfg, method)
    data["rows_used"] = len(ds)
    ckpts = checkpoints_for(method, cfg, budget, base, task, data, out)
    extra = EXTRA_EVALS.get(method) if cfg.eval_problems > 0 and is_main() else None  # rank 0 evaluates
    # the base was evaluated before the first step: a resume does not do it again
    before = ckpts.saved_or("before", lambda: evaluate(model, tok, task, cfg, "before"))
    extra_before = ckpts.saved_or(
        "extra_before", lambda: extra(model, tok, task, cfg, "before") if extra and cfg.eval_before else {}
    )
    with scratch_dir() as scratch:
        trainer, tracker = sft_trainer(
            model,
            tok,
            dd,
            ds,
            cfg,
            budget,
            ckpts.output_dir(scratch),
            mean,
            out,
            desc=ckpts.describe(method),
            save=ckpts.trainer_args(),
        )
        ckpts.attach(trainer, tracker, {"before": before, "extra_before": extra_before})
        ckpts.train(trainer)
    model = trainer.model
    spent = ckpts.mark(train_metrics(trainer, tracker))

    def write() -> RunCard:  # rank 0 alone evaluates and writes
        metrics: dict[str, Any] = {
            "train": spent,
            "before": before,
            "after": evaluate(model, tok, task, cfg),
        }
        if extra is not None:
            metrics.update(extra_before)
            metrics.update(extra(model, tok, task, cfg, "after"))
        card = write_checkpoint(
            model, tok, out, method=method, cfg=cfg, budget=budget, base=base, task=task, data=data, metrics=metrics
        )
        ckpts.done()
        return card

    return written_once(write, out)


def _critique_eval(model, tok, task, cfg, when: str) -> dict:
    """CFT models are judged as critics too: critique skill before and after training
    (run.json ``critique_before`` / ``critique_after``: the critique probe's metrics on
    ``min(eval_problems, 200)`` held-out problems); solving accuracy is ``after``."""
    import time

    from .evaluate import critique_accuracy

    t0 = time.perf_counter()
    out = critique_accuracy(
        model, tok, task, n=min(cfg.eval_problems, 200), style=cfg.style, chat_format=cfg.chat_format()
    )
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return {f"critique_{when}": out}


# Method-specific evaluations added to run.json (e.g. critique skill for CFT).
EXTRA_EVALS: dict[str, Any] = {"cft": _critique_eval, "one-shot-cft": _critique_eval}


@register_method("sft", SFTOptions, resumable=True)
def sft(base: str, task: Task, config: SFTOptions, out: Path, budget: Budget) -> RunCard:
    """Imitation SFT on any recipe, loss on the completion only."""
    return _run("sft", base, task, config, out, budget)


@register_method("cft", CFTOptions, resumable=True)
def cft(base: str, task: Task, config: CFTOptions, out: Path, budget: Budget) -> RunCard:
    """Critique fine-tuning: loss on the critique of a noisy candidate solution."""
    return _run("cft", base, task, config, out, budget)


@register_method("one-shot-cft", OneShotCFTOptions, resumable=True)
def one_shot_cft(base: str, task: Task, config: OneShotCFTOptions, out: Path, budget: Budget) -> RunCard:
    """CFT on many critiques of solutions to one seed problem."""
    return _run("one-shot-cft", base, task, config, out, budget)
