"""RLVR with GRPO (METHODS 1.4) on TRL's GRPOTrainer.

Rewards are ``sparring.rewards`` functions (the task verifier); the loss variant
(``grpo``, ``dr_grpo``, ``dapo``) picks TRL's loss aggregation, the advantage function and
whether zero-variance groups are dropped (``variants.py``); ``beta`` is TRL's KL to the
base. The trainer is ``trainers.SparringGRPOTrainer`` (TRL's, plus advantages, dropping,
an optional rollout selector and success replay, ``replay.py``). One optimizer step per
generated batch of ``prompts_per_step x num_generations`` rollouts.

``replay_successes`` (on by default for ``grpo``): a group whose rollouts all fail, for a
prompt the policy solved earlier in the run, gets that earlier success back in place of one
rollout, so hard prompts keep teaching instead of being dropped; ``false`` is plain GRPO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from sparring.rewards import REWARD_COLUMNS, get_reward

from .budget import Budget
from .config import opt
from .registry import register_method
from .rollout_config import RolloutOptions
from .variants import ADVANTAGES, LOSSES, get_loss
from .vllm import VLLMOptions, vllm_args

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from pathlib import Path

    from sparring.runcard import RunCard
    from sparring.tasks import Task


@dataclass
class GRPOOptions(VLLMOptions, RolloutOptions):
    recipe: str = opt(
        "imitation", "Recipe (or dataset dir) whose prompts and problems are used; completions are ignored."
    )
    rewards: list = opt(["correct"], "Reward functions (sparring.rewards names).")
    reward_weights: list = opt([], "One weight per reward (empty: all 1).")
    loss: str = opt("dapo", "Loss variant: " + ", ".join(sorted(LOSSES)) + ".")
    advantage: str = opt("", "Advantage function (empty: the loss variant's): " + ", ".join(sorted(ADVANTAGES)) + ".")
    drop_zero_variance: str = opt(
        "auto", "Drop groups whose rewards all agree: true, false or auto (the loss variant's default)."
    )
    min_group_std: float = opt(1e-6, "A group whose reward std is <= this counts as zero-variance.")
    top_p: float = opt(1.0, "Nucleus sampling for rollouts.")
    mask_truncated_completions: bool = opt(False, "Exclude truncated rollouts from the loss.")
    replay_successes: bool = opt(
        True,
        "Success replay (RLEP/ExGRPO-style experience replay): a group "
        "whose rollouts all fail gets the prompt's latest earlier success "
        "(reward >= replay_min_reward) in place of one rollout (false: "
        "plain GRPO; docs/results.md).",
    )
    replay_min_reward: float = opt(
        1.0, "Total weighted reward from which a rollout counts as a success for success replay."
    )

    method_name = "grpo"

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.rewards, list) or not self.rewards:
            raise self._err("rewards", "must be a non-empty list of reward names")
        for r in self.rewards:
            get_reward(r)
        if not isinstance(self.reward_weights, list) or (
            self.reward_weights and len(self.reward_weights) != len(self.rewards)
        ):
            raise self._err("reward_weights", f"must be empty or hold {len(self.rewards)} numbers")
        self.check_choice("loss", LOSSES)
        if self.advantage:
            self.check_choice("advantage", ADVANTAGES)
        if self.drop_zero_variance not in ("auto", True, False, "true", "false"):
            raise self._err("drop_zero_variance", "must be true, false or auto")
        self.check_float("min_group_std", lo=0.0)
        self.check_float("top_p", lo=0.0, hi=1.0, lo_open=True)
        self.check_bool("mask_truncated_completions")
        self.check_bool("replay_successes")
        self.check_float("replay_min_reward")

    def resolved_drop(self) -> bool:
        if self.drop_zero_variance in ("auto",):
            return get_loss(self.loss).drop_zero_variance
        return self.drop_zero_variance in (True, "true")


def config_rewards(cfg: GRPOOptions) -> list[tuple[Any, float]]:
    """(reward function, weight) for each of ``cfg.rewards`` (weights 1 unless given)."""
    weights = [float(w) for w in cfg.reward_weights] or [1.0] * len(cfg.rewards)
    return [(get_reward(r), w) for r, w in zip(cfg.rewards, weights)]


def grpo_config(
    cfg: GRPOOptions,
    budget: Budget,
    output_dir: str,
    dd,
    generations: int | None = None,
    save: dict | None = None,
    weights: list[float] | None = None,
):
    """TRL's GRPOConfig for ``cfg``; ``save`` overrides the checkpoint arguments
    (``resume.Checkpoints.trainer_args``); ``weights``: one per reward function (None:
    ``cfg.reward_weights``)."""
    from trl import GRPOConfig

    from .common import trainer_kwargs
    from .distributed import per_rank

    spec = get_loss(cfg.loss)
    g = generations or cfg.num_generations
    prompts = per_rank(cfg.prompts_per_step, f"{cfg.method_name}.prompts_per_step")  # global: each rank's share
    kw = {**trainer_kwargs(cfg, budget, output_dir, dd), **(save or {})}
    kw.update(spec.trl)
    kw.setdefault("epsilon_high", cfg.epsilon)
    kw.update(vllm_args(cfg))  # TRL's vLLM rollouts (train/vllm.py); nothing when use_vllm is off
    return GRPOConfig(
        **kw,
        learning_rate=cfg.learning_rate,
        beta=cfg.beta,
        num_generations=g,
        per_device_train_batch_size=prompts * g,
        steps_per_generation=1,
        gradient_accumulation_steps=1,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        top_k=0,
        max_completion_length=cfg.rollout_tokens(),
        chat_template_kwargs=cfg.chat_format().template_kwargs() or None,
        loss_type=spec.loss_type,
        epsilon=cfg.epsilon,
        num_iterations=cfg.num_iterations,
        max_grad_norm=cfg.max_grad_norm,
        mask_truncated_completions=cfg.mask_truncated_completions,
        scale_rewards="group",
        reward_weights=weights if weights is not None else ([float(w) for w in cfg.reward_weights] or None),
        shuffle_dataset=True,
        log_completions=False,
    )


def run_grpo(
    method: str,
    base: str,
    task: Task,
    cfg: GRPOOptions,
    out: Path,
    budget: Budget,
    *,
    dataset=None,
    data_card: dict | None = None,
    generations: int | None = None,
    prepare_model=None,
    selector=None,
    rewards: list[tuple[Any, float]] | None = None,
    on_trainer: Callable[[Any, Any], None] | None = None,
    finish: Callable[[Any, Any, dict], dict] | None = None,
    evaluate_before: bool = True,
) -> RunCard:
    """The GRPO run shared by grpo, grpo-roc, srl, confidence-shaping and self-eval (parsed
    values): build data, train, save. ``rewards``: (function, weight) pairs (None: the
    config's, :func:`config_rewards`); ``on_trainer(trainer, tokenizer)`` runs once the
    trainer is built (a reward that needs the policy binds to it there); ``finish(model,
    tokenizer, metrics) -> metrics`` edits run.json's metrics before the checkpoint is
    written (after training, on rank 0); ``evaluate_before=False`` skips evaluating the
    starting model (a method that evaluates its own base)."""
    from .callbacks import attach_run
    from .common import (
        evaluate,
        load_for_training,
        require_columns,
        scratch_dir,
        train_metrics,
        write_checkpoint,
        written_once,
    )
    from .data import prompt_dataset
    from .replay import SuccessReplay
    from .resume import checkpoints_for
    from .trainers import SparringGRPOTrainer

    if dataset is None:
        dataset, data_card = prompt_dataset(
            task,
            cfg.n,
            cfg.seed,
            cfg.recipe,
            cfg.recipe_options,
            what=method,
            style=cfg.style,
            chat_format=cfg.chat_format(),
        )
    data_card = data_card or {}
    for r in cfg.rewards:
        require_columns(dataset, ("prompt", *REWARD_COLUMNS.get(r, ())), f"{method} reward {r!r}")
    rewards = config_rewards(cfg) if rewards is None else rewards
    model, tok, dd = load_for_training(base, cfg)
    ckpts = checkpoints_for(method, cfg, budget, base, task, data_card, out)
    before = (  # not redone on a resume
        ckpts.saved_or("before", lambda: evaluate(model, tok, task, cfg, "before")) if evaluate_before else None
    )
    restore = prepare_model(model, tok) if prepare_model is not None else None
    spec = get_loss(cfg.loss)
    with scratch_dir() as scratch, scratch_dir() as ref_dir:
        if cfg.beta > 0:  # TRL builds the KL reference from the model's path: give it one
            _reference_path(model, tok, ref_dir)
        trainer = SparringGRPOTrainer(
            model=model,
            reward_funcs=[fn for fn, _ in rewards],
            args=grpo_config(
                cfg,
                budget,
                ckpts.output_dir(scratch),
                dd,
                generations,
                save=ckpts.trainer_args(),
                weights=[w for _, w in rewards],
            ),
            train_dataset=dataset,
            processing_class=tok,
            advantage=cfg.advantage or spec.advantage,
            drop_zero_variance=cfg.resolved_drop(),
            min_group_std=cfg.min_group_std,
            selector=selector,
            success_replay=SuccessReplay(cfg.replay_min_reward) if cfg.replay_successes else None,
        )
        if on_trainer is not None:
            on_trainer(trainer, tok)
        tracker = attach_run(trainer, cfg, out, budget, desc=ckpts.describe(method))
        # a batch is generated afresh every num_iterations steps: checkpoints fall on those
        ckpts.attach(trainer, tracker, {"before": before}, align=cfg.num_iterations)
        ckpts.train(trainer)
    model = trainer.model
    if restore is not None:
        restore(model)
    spent = ckpts.mark(train_metrics(trainer, tracker))

    def write() -> RunCard:  # rank 0 alone evaluates and writes
        metrics = {"train": spent, "before": before, "after": evaluate(model, tok, task, cfg)}
        if finish is not None:
            metrics = finish(model, tok, metrics)
        card = write_checkpoint(
            model,
            tok,
            out,
            method=method,
            cfg=cfg,
            budget=budget,
            base=base,
            task=task,
            data=data_card,
            metrics=metrics,
        )
        ckpts.done()
        return card

    return written_once(write, out)


def _reference_path(model, tok, ref_dir: str) -> None:
    """Make ``model.config._name_or_path`` a directory holding the current (base) weights,
    unless it already is one: TRL loads the frozen KL reference model from it."""
    from pathlib import Path

    from .lora import is_adapter

    if is_adapter(model):  # TRL's reference for a peft model is the model with its adapter disabled
        return
    src = getattr(model.config, "_name_or_path", "") or ""
    if src and (Path(src) / "config.json").is_file():
        return
    model.save_pretrained(ref_dir)
    tok.save_pretrained(ref_dir)
    model.config._name_or_path = ref_dir


@register_method("grpo", GRPOOptions, resumable=True)
def grpo(base: str, task: Task, config: GRPOOptions, out: Path, budget: Budget) -> RunCard:
    """RLVR with GRPO: verifier rewards, loss variants grpo / dr_grpo / dapo, KL beta."""
    return run_grpo("grpo", base, task, config, out, budget)
