"""RARO on TRL's GRPOTrainer: the policy's reward is the critic's verdict, and the critic's
own rollouts join the same GRPO step (METHODS 1.7).

    trainer = RAROTrainer(model=model, args=trainer_args(cfg, budget, out, dd),
                          train_dataset=expert_dataset(task, cfg)[0], processing_class=tok,
                          options=cfg)  # + critic_model (shared_critic false), monitor

Per optimizer step:

1. TRL samples ``num_generations`` policy answers per question and calls the reward
   function, the trainer's ``critic``: :meth:`CriticJudge.judge` pairs every distinct,
   non-truncated answer with the question's expert demonstration (random order), samples
   ``critic_generations`` critic verdicts per pair, and the extras the planner asked for
   (``planning.py``: replayed pairs, expert-alone prompts) in the same batched pass, and
   returns a :class:`Round`; its policy rewards go to TRL (truncated answers: None, so
   they are outside their group's statistics, advantage 0, and ``drop_truncated`` masks
   them out of the loss). No verifier is called anywhere on this path.
2. :class:`SparringGRPOTrainer` computes the policy advantages with the loss variant's
   registered advantage function (``variants.py``; Dr.GRPO's by default), scaled here by
   ``lambda_p``. The round's critic rows (the planned fresh pairs + extras) get their
   rewards from the ``critic_objective`` (``objectives.py``) and their advantages from the
   same advantage function, over a group of the ``critic_generations`` samples of one
   pair (or the whole critic batch when that is 1), scaled by ``lambda_c``; the loss mask
   excludes the tokens the constrained decoder appended.
3. The loss (:meth:`RAROTrainer.compute_loss`) is TRL's loss on the policy rows plus the
   critic's loss on its rows (TRL's loss, plus the exact label term of an ``expected``
   objective): ``lambda_p * J_policy + lambda_c * J_critic - beta * KL``, one backward
   pass, one optimizer step. (Two loss terms rather than one padded tensor: padding would
   stretch every short policy row to the critic prompt's length.) With a separate critic
   model, the critic rows update that model with its own optimizer (same loss code).
4. After the optimizer step (a callback, outside the reward path) the step's numbers
   go to ``trainer.history`` and to TRL's logs (:meth:`RAROTrainer.log`); the optional
   ``monitor`` (``judging.verified_stats``) may call the task's verifier on the round.

FLOPs (``flops.py``) beyond the GRPO step's: every critic verdict sampled (prompt +
completion per rollout), the critic rows' log-probs and training passes, and the warm-up.

Logged per step (``raro/*``): critic accuracy, tie, policy-win and unparseable rates on the
fresh (expert, policy) pairs, critic accuracy on distinct pairs, the identical-answer and
dropped (truncated) rates, the critic's label distribution on its rows (the majority
label's share), mean rewards; monitor-only (``monitor/*``): verified accuracy and critic
accuracy on verifiably wrong answers.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from transformers import TrainerCallback

from ..distributed import average_gradients, gather, is_main, rank_seed, world_size
from ..flops import TRAIN, mask_lengths
from ..trainers import SparringGRPOTrainer
from ..variants import get_loss
from .batches import critic_tensors, label_index, label_logits
from .game import ReplayBuffer
from .judging import CriticJudge, Round, step_stats
from .objectives import critic_rewards, expected_reward, get_critic_objective, label_token_weights
from .options import RAROOptions
from .planning import CriticBatchPlanner
from .sampling import CriticRollout, sampler_for

Monitor = Callable[[Round], dict[str, float]]


class _TruncatedAnswersFilter(logging.Filter):
    """RARO gives truncated answers no reward (None) on purpose; TRL warns, with the whole
    row, for every batch that has one. Drop that one message."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "All reward functions returned None" not in record.getMessage()


_TRL_GRPO_LOGGER = logging.getLogger("trl.trainer.grpo_trainer")
if not any(isinstance(f, _TruncatedAnswersFilter) for f in _TRL_GRPO_LOGGER.filters):
    _TRL_GRPO_LOGGER.addFilter(_TruncatedAnswersFilter())


@dataclass
class CriticBatch:
    """The critic's rows in TRL's batch layout (``inputs``, advantages scaled by the
    role's weight); for an exact-label objective, ``label_rewards`` (rows x labels: R of
    each label) and ``weight`` (per row: the label token's weight in TRL's aggregation,
    times the role's weight)."""

    inputs: dict[str, torch.Tensor]
    rows: list[CriticRollout]
    label_rewards: torch.Tensor | None = None
    weight: torch.Tensor | None = None


class _StepEnd(TrainerCallback):
    def __init__(self, end_step: Callable[[int], None]):
        self.end_step = end_step

    def on_step_end(self, args, state, control, **kwargs):
        self.end_step(state.global_step)
        return control


class RAROTrainer(SparringGRPOTrainer):
    """GRPOTrainer playing both roles of the RARO game (see the module doc). ``options``
    are the run's :class:`RAROOptions`; ``critic_model`` the separate critic
    (``shared_critic: false``); ``monitor(round) -> metrics`` is called every
    ``options.monitor_every`` steps after the optimizer step (None: never)."""

    def __init__(
        self,
        model,
        *,
        options: RAROOptions,
        critic_model=None,
        monitor: Monitor | None = None,
        **kwargs,
    ):
        if options.shared_critic == (critic_model is not None):
            raise ValueError("raro: shared_critic false needs a critic_model, shared_critic true takes none")
        tok = kwargs["processing_class"]
        self.options = cfg = options
        self.game = cfg.game()
        self.sampler = sampler_for(cfg, tok)
        self.judge = CriticJudge(
            self.game,
            self.sampler,
            cfg.critic_generations,
            expected=cfg.policy_reward == "expected",
            seed=cfg.seed,
            drop_truncated=cfg.drop_truncated,
        )
        replay = ReplayBuffer(cfg.replay_capacity if cfg.replay_ratio > 0 else 0, cfg.seed)
        self.planner = CriticBatchPlanner(
            self.game, cfg.critic_pairs, cfg.replay_ratio, replay, random.Random(rank_seed(f"raro-trainer|{cfg.seed}"))
        )
        self.objective = get_critic_objective(cfg.critic_objective)
        self.critic_model = critic_model
        self.monitor, self.monitor_every = monitor, cfg.monitor_every
        self.history: list[dict[str, float]] = []
        self._round: Round | None = None  # the reward function's round, until the step takes it
        self._finished: Round | None = None  # the step's round, until the step ends (the monitor)
        self._logged: dict[str, list[float]] = defaultdict(list)  # since TRL last logged
        self._warmed = False
        self._critic_batch: CriticBatch | None = None

        def critic(prompts, completions, completion_ids, expert=None, problem=None, **_):
            """The policy's reward function (TRL's signature): the critic's verdicts."""
            stop = (*self.eos_token_ids, self.processing_class.pad_token_id)
            self._round = self.judge.judge(
                self.critic_model or self.model,
                prompts,
                completions,
                completion_ids,
                expert,
                problem,
                stop_ids=stop,
                plan=self.planner.plan,
            )
            return self._round.policy_rewards

        spec = get_loss(cfg.loss)
        super().__init__(
            model,
            [critic],
            advantage=cfg.advantage_name(),
            drop_zero_variance=spec.drop_zero_variance,
            skip_unscored=True,
            **kwargs,
        )
        if (self.loss_type, self.args.mask_truncated_completions) != (spec.loss_type, cfg.drop_truncated):
            raise ValueError("raro: args disagree with options (loss, drop_truncated); build them with trainer_args")
        self.add_callback(_StepEnd(self._end_step))
        self.critic_optimizer = None
        if critic_model is not None:
            from trl.trainer.utils import add_fused_lm_head  # what TRL does to its own model

            a = self.args
            add_fused_lm_head(
                critic_model,
                temperature=self.temperature,
                cast_lm_head_to_fp32=a.cast_lm_head_to_fp32,
                outputs=("log_probs", "entropy"),
            )
            self.critic_optimizer = torch.optim.AdamW(
                critic_model.parameters(),
                lr=a.learning_rate,
                betas=(a.adam_beta1, a.adam_beta2),
                eps=a.adam_epsilon,
                weight_decay=a.weight_decay,
            )

    @property
    def critic_lr_scale(self) -> float:
        """A separate critic's learning rate = the schedule's lr x this."""
        cfg = self.options
        return cfg.critic_learning_rate / cfg.learning_rate if cfg.critic_learning_rate else 1.0

    # ---- resumable state (resume.py) -------------------------------------------------------
    CRITIC_FILE = "sparring-critic.pt"

    def sparring_state(self) -> dict:
        """GRPO's, plus the game's random generators, the replay buffer, the per-step history
        and whether the critic's warm-up is done (it runs once, before the first step)."""
        from ..resume import rng_state

        plan = self.planner.state_dict()
        return {
            **super().sparring_state(),
            "rng": plan["rng"],
            "judge_rng": rng_state(self.judge.rng),
            "replay": plan["replay"],
            "history": self.history,
            "warmed": self._warmed,
        }

    def load_sparring_state_dict(self, state: dict) -> None:
        from ..resume import set_rng_state

        super().load_sparring_state_dict(state)
        self.planner.load_state_dict({"rng": state["rng"], "replay": state["replay"]})
        set_rng_state(self.judge.rng, state["judge_rng"])
        self.history = list(state["history"])
        self._warmed = bool(state["warmed"])

    def save_sparring_state(self, folder) -> None:
        """A separate critic's weights and optimizer go beside the JSON state (transformers
        saves only the policy's)."""
        super().save_sparring_state(folder)
        if self.critic_model is not None and is_main():  # the same on every rank (averaged gradients)
            state = {"model": self.critic_model.state_dict(), "optimizer": self.critic_optimizer.state_dict()}
            torch.save(state, Path(folder) / self.CRITIC_FILE)

    def load_sparring_state(self, folder) -> None:
        super().load_sparring_state(folder)
        if self.critic_model is not None:
            state = torch.load(Path(folder) / self.CRITIC_FILE, map_location="cpu", weights_only=True)
            self.critic_model.load_state_dict(state["model"])
            self.critic_optimizer.load_state_dict(state["optimizer"])

    # ---- one step ----------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs):
        cfg = self.options
        if cfg.critic_warmup_steps and not self._warmed and self.model.training:
            from .warmup import warm_up_critic

            self._warmed = True
            self.history.append(
                warm_up_critic(
                    self,
                    self.critic_model or self.model,
                    cfg.critic_warmup_steps,
                    cfg.critic_warmup_lr,
                    cfg.seed,
                    cfg.show_progress,
                )
            )
        self._round = None
        out = super()._generate_and_score_completions(inputs)
        rnd, self._round = self._round, None
        if not self.model.training or rnd is None:
            return out
        out["advantages"] = out["advantages"] * cfg.lambda_p
        rows, keys = rnd.critic_batch()
        rewards = critic_rewards(self.objective, rows, keys, self.game)
        stats = step_stats(rnd, rows, keys, self.game, self.objective)
        self.planner.remember(j.triple for j in rnd.judgements)
        stats["raro/replay_size"] = float(len(self.planner.replay))
        k = rnd.k
        group = k if k > 1 else max(1, len(rows))
        adv_c = self.advantage_fn(rewards, group) if rows else rewards
        self._count_tokens(rnd.rollouts, rows)
        self.spend_rollouts("critic_sampling", self.critic_model or self.model, rnd.rollouts + rnd.extra_rollouts)
        rows, keys, adv_c = self._even_critic_rows(rows, keys, adv_c)
        self._log_step(stats)
        self._finished = rnd
        self._critic_batch = None
        if rows and self.critic_model is not None:
            self._critic_update(self._critic_inputs(rows, keys, adv_c, self.critic_model, 1.0))
        elif rows:  # shared weights: a second loss term of the same optimizer step (compute_loss)
            old = "old_per_token_logps" in out
            self._critic_batch = self._critic_inputs(rows, keys, adv_c, self.model, cfg.lambda_c, old=old)
        return out

    def _even_critic_rows(self, rows: list[CriticRollout], keys: list, adv: torch.Tensor):
        """Several ranks: as many critic rows on every rank (the most any rank has), padded
        with blank rows (one token each, loss mask 0, advantage 0). A rank's critic rows
        depend on its policy answers; unequal counts would break TRL's gathered per-row
        statistics, and a rank without rows would skip the collectives the others wait in."""
        if world_size() <= 1:
            return rows, keys, adv
        pad = max(gather(len(rows))) - len(rows)
        if pad <= 0:
            return rows, keys, adv
        tok = self.processing_class
        blank = CriticRollout([tok.pad_token_id], [tok.eos_token_id], [0], "", None, truncated=True)
        return rows + [blank] * pad, keys + [None] * pad, torch.cat([adv.float(), torch.zeros(pad)])

    def _count_tokens(self, judged: list[CriticRollout], rows: list[CriticRollout]) -> None:
        """The budget counts critic tokens too: prompt + completion of every critic sample."""
        fresh = {id(r) for r in judged}
        extra = sum(r.tokens for r in rows if id(r) not in fresh)
        self.count_tokens(sum(r.tokens for r in judged) + extra)

    def spend_rollouts(self, kind: str, model, rollouts: list[CriticRollout]) -> None:
        """FLOPs of sampling critic rollouts: a forward over each one's prompt + completion."""
        self.spend(kind, model, [r.tokens for r in rollouts])

    # ---- logging: the history, TRL's logs and the monitor -----------------------------------
    def _log_step(self, step: dict[str, float]) -> None:
        for key, v in step.items():
            self._logged[key].append(v)
        self.history.append({"step": int(self.state.global_step) + 1, **{k: round(v, 4) for k, v in step.items()}})

    def _end_step(self, global_step: int) -> None:
        """After the optimizer step: the monitor's numbers of the step's round (every
        ``monitor_every`` steps), into the step's history entry and the logs."""
        rnd, self._finished = self._finished, None
        if rnd is None or self.monitor is None or not self.monitor_every or global_step % self.monitor_every:
            return
        stats = self.monitor(rnd)
        for key, v in stats.items():
            self._logged[key].append(v)
        if self.history:
            self.history[-1].update({key: round(v, 4) for key, v in stats.items()})

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """TRL's logs, plus the mean of each RARO number since the last log."""
        logs.update({key: sum(v) / len(v) for key, v in self._logged.items() if v})
        self._logged.clear()
        super().log(logs, start_time)

    # ---- the critic's loss -----------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """lambda_p * J_policy + lambda_c * J_critic (+ beta * KL of each): TRL's loss on the
        policy rows plus the critic's loss on its rows, each normalised over its own rows
        (padding both into one tensor would stretch every policy row to the critic's length)."""
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self._critic_batch is not None and model.training:
            # through the unwrapped model: data-parallel sees one forward per step whatever a
            # rank's critic rows (none on one rank, many on another), and one backward of the
            # sum reduces each gradient once
            inner = self.accelerator.unwrap_model(model)
            with self._quiet_metrics():
                loss = loss + self.critic_loss(inner, self._critic_batch)
        return loss

    def critic_loss(self, model, batch: CriticBatch) -> torch.Tensor:
        """TRL's GRPO loss on the critic rows, minus, for an exact-label objective, the
        rows' expected rewards weighted as TRL weighs one of their tokens (``objectives.py``)."""
        t = batch.inputs
        attended = mask_lengths(t["prompt_mask"], t["completion_mask"])
        loss = torch.zeros((), device=t["completion_ids"].device)
        if batch.label_rewards is None or self.options.reasoning_tokens or self.beta != 0.0:
            self.spend("critic_train", model, attended, TRAIN)
            loss = self._compute_loss(model, t)
        if batch.label_rewards is not None:
            self.spend("critic_train", model, attended, TRAIN)
            z = label_logits(model, t, batch.rows, self.sampler.first_ids)
            loss = loss - (batch.weight * expected_reward(z, batch.label_rewards, self.temperature)).sum()
        return loss

    def _logps(self, model, t: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = torch.cat([t["prompt_ids"], t["completion_ids"]], 1)
        mask = torch.cat([t["prompt_mask"], t["completion_mask"]], 1)
        self.spend("critic_logprobs", model, mask_lengths(mask))
        with torch.no_grad():
            logps, _, _ = self._get_per_token_logps_and_entropies(model, ids, mask, t["completion_ids"].size(1))
        return logps

    def _critic_inputs(
        self, rows: list[CriticRollout], keys: list, adv: torch.Tensor, model, scale: float, old: bool = False
    ) -> CriticBatch:
        t = critic_tensors(rows, self.processing_class.pad_token_id, next(model.parameters()).device)
        dev = t["completion_ids"].device
        if self.beta != 0.0:
            t["ref_per_token_logps"] = self._logps(self.ref_model, t)
        if old:
            t["old_per_token_logps"] = self._logps(model, t)
        mask = t["completion_mask"] * t["tool_mask"]
        t["num_items_in_batch"] = mask.sum()
        adv = adv.to(dev) * scale
        if not self.objective.exact_label:
            t["advantages"] = adv
            return CriticBatch(t, rows)
        # exact label: per-token advantages, 0 at the label (its term is the exact one)
        live = [bool(sum(r.loss_mask)) and not r.truncated for r in rows]
        at = torch.tensor([label_index(r) if ok else 0 for r, ok in zip(rows, live)], device=dev)
        per_token = adv[:, None].expand_as(mask).clone().float()
        per_token[torch.arange(len(rows), device=dev), at] = 0.0
        t["advantages"] = per_token
        labels = self.game.labels
        label_rewards = torch.tensor(
            [[self.game.rewards(lb, j)[0] if j is not None else 0.0 for lb in labels] for j in keys], device=dev
        )
        w = label_token_weights(
            self.loss_type, mask, self.max_completion_length, t["num_items_in_batch"], self.accelerator.num_processes
        )
        w = w * torch.tensor(live, dtype=w.dtype, device=dev) * scale
        return CriticBatch(t, rows, label_rewards, w)

    @contextmanager
    def _quiet_metrics(self):
        """Keep the critic rows out of TRL's logged policy statistics (entropy, clipping)."""
        saved, self._metrics["train"] = self._metrics["train"], defaultdict(list)
        try:
            yield
        finally:
            self._metrics["train"] = saved

    def _critic_update(self, batch: CriticBatch) -> None:
        """Separate-critic ablation: one optimizer step of the critic model on its rows (in
        several processes on the mean gradient over ranks, so every rank's critic is the same)."""
        model = self.critic_model
        lr = self.lr_scheduler.get_last_lr()[0] if self.lr_scheduler is not None else self.args.learning_rate
        lr *= self.critic_lr_scale
        for group in self.critic_optimizer.param_groups:
            group["lr"] = lr
        with self._quiet_metrics():
            model.train()
            self.critic_loss(model, batch).backward()
            average_gradients(model.parameters(), 1.0 / world_size())  # the critics stay equal
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
            self.critic_optimizer.step()
            self.critic_optimizer.zero_grad(set_to_none=True)
