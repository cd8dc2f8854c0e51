"""RARO: an adversarial relativistic critic game that learns from demonstrations alone
(METHODS 1.7). No verifier is in the training loop.

    from sparring.train import train
    train("raro", "zoo:countdown-base", "countdown", {"replay_ratio": 0.5}, "runs/raro", "600s")

The demonstrations are a recipe's (prompt, completion) rows (``imitation`` by default); the
completion is the expert answer. One model plays the policy (answers the prompt) and the
critic (judges a question with two answers in random order, one expert, one policy; ends
with ``Verdict: 1|2|tie``); ``raro_game.py`` holds the rules, ``raro_sampling.py`` the
critic's decoding, ``raro_trainer.py`` the GRPO step. The task's verifier is used only
for the greedy accuracy before/after training and, when ``monitor_every > 0``, for
monitor metrics logged beside training (``monitor/*``).

Ablation switches (each a stabiliser the paper ablates): ``pointwise`` (judge one answer
instead of comparing two), ``tie`` (false: no tie label), ``replay_ratio`` (0: no replay),
``shared_critic`` (false: a separate critic model with its own optimizer),
``reasoning_tokens`` (0: the critic answers without reasoning).

The checkpoint is the shared model (policy and critic); with ``shared_critic: false`` the
critic is saved in ``<checkpoint>/critic``. ``run.json`` holds the game settings the
reranker (``sparring.train.rerank``) needs, and the per-step history under
``metrics.train.history``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .budget import Budget
from .config import opt
from .raro_game import PAIRWISE_TEMPLATE, POINTWISE_TEMPLATE, Game
from .registry import register_method
from .rollout_config import RolloutOptions

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from pathlib import Path

    from sparring.runcard import RunCard
    from sparring.tasks import Task


CRITIC_DIR = "critic"


@dataclass
class RAROOptions(RolloutOptions):
    recipe: str = opt("imitation", "Demonstrations: a recipe (or dataset dir) whose completion is the expert answer.")
    n: int = opt(4000, "Demonstrations (questions with their expert answer).")
    temperature: float = opt(0.5, "Sampling temperature for policy answers and critic rollouts (grpo's default).")
    loss: str = opt("dr_grpo", "Loss aggregation: dr_grpo (constant normaliser) or grpo (per-sequence mean).")
    drop_truncated: bool = opt(
        True,
        "Drop truncated policy answers (not judged, no reward, no loss); "
        "false: judge and train on them like the others.",
    )
    # the game
    tau_p: float = opt(0.6, "Policy reward for a tie.")
    tau_c: float = opt(0.55, "Critic reward for a tie.")
    lambda_p: float = opt(1 / 9, "Weight of the policy objective.")
    lambda_c: float = opt(8 / 9, "Weight of the critic objective.")
    tie: bool = opt(True, "Offer the critic a tie label (false: the no-tie ablation).")
    pointwise: bool = opt(False, "Pointwise critic: judge one answer (expert or policy) instead of a pair.")
    shared_critic: bool = opt(True, "One model for both roles (false: a separate critic model).")
    critic_learning_rate: float = opt(
        0.0,
        "Peak learning rate of a separate critic (0: learning_rate); "
        "a faster critic is the two-time-scale rule of GAN training. "
        "Needs shared_critic false.",
    )
    critic_warmup_steps: int = opt(
        0,
        "Before the game: N supervised critic steps (64 pairs each) on a pool of "
        "the policy's own answers vs the demonstrations, cross-entropy on which "
        "answer is the expert's (no verifier); inside the budget's time and tokens. "
        "Needs constrained verdicts.",
    )
    critic_warmup_lr: float = opt(1e-3, "AdamW learning rate of the critic warm-up.")
    reasoning_tokens: int = opt(8, "Cap on the critic's reasoning before its verdict (0: no reasoning).")
    verdict_decoding: str = opt(
        "constrained",
        "constrained: sample the reasoning, then the label among the "
        "allowed ones after 'Verdict: '; free: plain sampling, strict parse.",
    )
    critic_generations: int = opt(
        1, "Critic verdicts per (expert, policy) pair (the critic's GRPO group; 1: the critic batch is one group)."
    )
    critic_pairs: int = opt(16, "Fresh pairs whose critic rollouts are trained on per step (0: all judged).")
    replay_ratio: float = opt(0.5, "Share of the critic batch drawn from the replay buffer (0: no replay).")
    replay_capacity: int = opt(4096, "Triples the replay buffer keeps.")
    policy_reward: str = opt(
        "sampled",
        "sampled: the verdict's reward; expected: its expectation under the "
        "critic's label distribution (constrained decoding only).",
    )
    critic_template: str = opt(PAIRWISE_TEMPLATE, "Pairwise critic prompt ({question}, {answer1}, {answer2}).")
    pointwise_template: str = opt(POINTWISE_TEMPLATE, "Pointwise critic prompt ({question}, {answer1}).")
    monitor_every: int = opt(
        1, "Verify the policy answers every N steps for monitor/* metrics (0: never call the verifier during training)."
    )

    method_name = "raro"
    top_p = 1.0  # what grpo.grpo_config reads besides the fields above
    reward_weights = ()

    @property
    def mask_truncated_completions(self) -> bool:
        return self.drop_truncated

    def validate(self) -> None:
        super().validate()
        self.check_choice("loss", {"dr_grpo", "grpo"})
        for name in ("drop_truncated", "tie", "pointwise", "shared_critic"):
            self.check_bool(name)
        self.check_float("critic_learning_rate", lo=0.0)
        self.check_int("critic_warmup_steps", lo=0)
        self.check_float("critic_warmup_lr", lo=0.0, hi=1.0, lo_open=True)
        if self.critic_learning_rate and self.shared_critic:
            raise self._err("critic_learning_rate", "needs shared_critic: false (one model has one learning rate)")
        for name in ("tau_p", "tau_c"):
            self.check_float(name, lo=0.0, hi=1.0)
        for name in ("lambda_p", "lambda_c"):
            self.check_float(name, lo=0.0)
        if self.lambda_p + self.lambda_c <= 0:
            raise self._err("lambda_p", "lambda_p + lambda_c must be > 0")
        self.check_int("reasoning_tokens", lo=0, hi=512)
        self.check_choice("verdict_decoding", {"constrained", "free"})
        self.check_int("critic_generations", lo=1, hi=64)
        self.check_int("critic_pairs", lo=0)
        self.check_float("replay_ratio", lo=0.0, hi=0.9)
        self.check_int("replay_capacity", lo=1)
        self.check_choice("policy_reward", {"sampled", "expected"})
        if self.critic_warmup_steps and self.verdict_decoding != "constrained":
            raise self._err(
                "critic_warmup_steps", "needs verdict_decoding 'constrained' (the label's position is known)"
            )
        if self.policy_reward == "expected" and self.verdict_decoding != "constrained":
            raise self._err("policy_reward", "'expected' needs verdict_decoding 'constrained'")
        self._check_template("critic_template", ("{question}", "{answer1}", "{answer2}"))
        self._check_template("pointwise_template", ("{question}", "{answer1}"))
        self.check_int("monitor_every", lo=0)

    def _check_template(self, name: str, fields: tuple[str, ...]) -> None:
        v = getattr(self, name)
        if not isinstance(v, str) or any(f not in v for f in fields):
            raise self._err(name, f"must be text containing {', '.join(fields)}")
        try:
            v.format(question="q", answer1="a", answer2="b")
        except (KeyError, IndexError, ValueError) as err:
            raise self._err(name, f"is not a valid template ({err})") from None

    def game(self) -> Game:
        return Game(
            pointwise=self.pointwise,
            tie=self.tie,
            tau_p=self.tau_p,
            tau_c=self.tau_c,
            pairwise_template=self.critic_template,
            pointwise_template=self.pointwise_template,
        )


def sampler_for(cfg: RAROOptions, tok, *, temperature: float | None = None):
    """The critic's sampler; in chat style each critic prompt is a user message rendered
    through the chat template (with ``cfg``'s system prompt and keywords)."""
    from sparring.models.style import render_chat

    from .raro_sampling import CriticSampler

    fmt = cfg.chat_format()
    return CriticSampler(
        tok,
        cfg.game().labels,
        cfg.reasoning_tokens,
        constrained=cfg.verdict_decoding == "constrained",
        temperature=cfg.temperature if temperature is None else temperature,
        render=(lambda text: render_chat(tok, fmt.messages(text), fmt, True)) if cfg.style == "chat" else None,
    )


def expert_dataset(task, cfg: RAROOptions):
    """(prompt, expert, problem) rows, one per question, from the demonstrations recipe in
    the config's style; in chat style the prompt is a conversation (TRL renders it for the
    policy) and the expert the assistant message's text."""
    from sparring.rewards import completion_text

    from .data import config_dataset, is_conversational

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

    from .callbacks import attach_budget
    from .common import (
        evaluate,
        load_for_training,
        lora_base,
        scratch_dir,
        train_metrics,
        write_checkpoint,
        written_once,
    )
    from .grpo import _reference_path, grpo_config
    from .lora import is_adapter
    from .raro_judge import CriticJudge, RAROMonitor
    from .raro_trainer import RAROTrainer
    from .reporting import attach_logging
    from .resume import checkpoints_for

    ds, data_card = expert_dataset(t, cfg)
    model, tok, dd = load_for_training(base, cfg)
    critic = None if cfg.shared_critic else load_for_training(base, cfg)[0]
    ckpts = checkpoints_for("raro", cfg, budget, base, t, data_card, out)
    before = ckpts.saved_or("before", lambda: evaluate(model, tok, t, cfg, "before"))  # not redone on a resume
    judge = CriticJudge(
        cfg.game(),
        sampler_for(cfg, tok),
        cfg.critic_generations,
        expected=cfg.policy_reward == "expected",
        seed=cfg.seed,
        drop_truncated=cfg.drop_truncated,
    )
    with scratch_dir() as scratch, scratch_dir() as ref_dir:
        if cfg.beta > 0:  # TRL builds the KL reference from the model's path (as grpo does)
            _reference_path(model, tok, ref_dir)
        trainer = RAROTrainer(
            model=model,
            reward_funcs=[judge],
            args=grpo_config(cfg, budget, ckpts.output_dir(scratch), dd, save=ckpts.trainer_args()),
            train_dataset=ds,
            processing_class=tok,
            judge=judge,
            lambda_p=cfg.lambda_p,
            lambda_c=cfg.lambda_c,
            critic_pairs=cfg.critic_pairs,
            replay_ratio=cfg.replay_ratio,
            replay_capacity=cfg.replay_capacity,
            critic_model=critic,
            critic_lr_scale=(cfg.critic_learning_rate / cfg.learning_rate) if cfg.critic_learning_rate else 1.0,
            critic_warmup_steps=cfg.critic_warmup_steps,
            critic_warmup_lr=cfg.critic_warmup_lr,
        )
        trainer.show_progress = cfg.show_progress
        attach_logging(trainer, cfg, out)
        tracker = attach_budget(
            trainer,
            budget,
            warmup_steps=cfg.warmup_steps,
            min_lr_ratio=cfg.min_lr_ratio,
            show_progress=cfg.show_progress,
            desc=ckpts.describe("raro"),
        )
        if cfg.monitor_every:
            trainer.add_callback(RAROMonitor(trainer, t, cfg.monitor_every))
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
