"""RARO on TRL's GRPOTrainer: the policy's reward is the critic's verdict, and the critic's
own rollouts join the same GRPO batch (METHODS 1.7).

Per optimizer step:

1. TRL samples ``num_generations`` policy answers per question and calls the reward
   functions. The only reward function is :class:`CriticJudge`: it pairs every distinct,
   non-truncated answer with the question's expert demonstration (random order), samples
   ``critic_generations`` critic verdicts per pair and returns the policy rewards
   (truncated answers: None, so they carry no advantage and ``mask_truncated_completions``
   drops them from the loss). No verifier is called anywhere on this path.
2. :meth:`RAROTrainer._generate_and_score_completions` takes TRL's policy batch, replaces
   its advantages by Dr.GRPO ones (reward minus the group mean over scorable answers), takes
   the ``critic_pairs`` fresh pairs and the replay pairs (``replay_ratio`` of the critic
   batch) that its plan picked before judging — the judge samples them in the same batched
   pass as the fresh pairs, judged by the current critic — and scores the critic rollouts:
   advantages over a group of the ``critic_generations`` samples of one pair (or the whole
   critic batch when that is 1), loss mask excluding the tokens the constrained decoder appended. The step's loss
   (:meth:`RAROTrainer.compute_loss`) is TRL's GRPO loss on the policy rows plus TRL's GRPO
   loss on the critic rows, advantages scaled by ``lambda_p`` / ``lambda_c``:
   ``lambda_p * J_policy + lambda_c * J_critic - beta * KL``, one backward pass, one
   optimizer step. (Two loss terms rather than one padded tensor: padding would stretch
   every short policy row to the critic prompt's length.) With a separate critic model, the
   critic rows update that model with its own optimizer (same loss code,
   ``GRPOTrainer._compute_loss``).
3. :class:`RAROMonitor` (a callback, after the optimizer step, outside the reward path)
   may call the task's verifier on the step's policy answers to log verified accuracy.

FLOPs (``flops.py``) beyond the GRPO step's: every critic verdict sampled (prompt +
completion per rollout), the critic rows' log-probs and training pass, and the warm-up.

Logged per step (``raro/*``): critic accuracy, tie, policy-win and unparseable rates on the
fresh (expert, policy) pairs, critic accuracy on distinct pairs, the identical-answer
rate, mean rewards; monitor-only (``monitor/*``): verified accuracy and critic accuracy on
verifiably wrong answers. ``trainer.history`` keeps every step's numbers.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch

from .distributed import average_gradients, gather, is_main, rank_seed, world_size
from .flops import TRAIN, mask_lengths
from .raro_game import Judgement, ReplayBuffer, Triple
from .raro_judge import CriticJudge, Round, verdict_stats
from .raro_sampling import CriticRollout
from .trainers import SparringGRPOTrainer


def dr_grpo_advantages(rewards: torch.Tensor, group: int) -> torch.Tensor:
    """Reward minus the mean of its group's scorable (non-NaN) rewards; NaN rows get 0."""
    g = rewards.view(-1, group)
    ok = ~torch.isnan(g)
    mean = torch.where(ok, g, 0).sum(1, keepdim=True) / ok.sum(1, keepdim=True).clamp(min=1)
    return torch.where(ok, g - mean, torch.zeros_like(g)).reshape(-1)


def _attended(t: dict[str, torch.Tensor]) -> list[int]:
    return mask_lengths(t["prompt_mask"], t["completion_mask"])


def _pad_left(rows: list[list[int]], width: int, value: int) -> torch.Tensor:
    return torch.tensor([[value] * (width - len(r)) + r for r in rows], dtype=torch.long)


def _pad_right(rows: list[list[int]], width: int, value: int) -> torch.Tensor:
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


class _TruncatedAnswersFilter(logging.Filter):
    """RARO gives truncated answers no reward (None) on purpose; TRL warns, with the whole
    row, for every batch that has one. Drop that one message."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "All reward functions returned None" not in record.getMessage()


_TRL_GRPO_LOGGER = logging.getLogger("trl.trainer.grpo_trainer")
if not any(isinstance(f, _TruncatedAnswersFilter) for f in _TRL_GRPO_LOGGER.filters):
    _TRL_GRPO_LOGGER.addFilter(_TruncatedAnswersFilter())


class RAROTrainer(SparringGRPOTrainer):
    """GRPOTrainer playing both roles of the RARO game (see the module doc)."""

    def __init__(
        self,
        *args,
        judge: CriticJudge,
        lambda_p: float,
        lambda_c: float,
        critic_pairs: int,
        replay_ratio: float,
        replay_capacity: int,
        critic_model=None,
        critic_lr_scale: float = 1.0,
        critic_warmup_steps: int = 0,
        critic_warmup_lr: float = 1e-3,
        **kwargs,
    ):
        super().__init__(*args, advantage="mean", drop_zero_variance=False, **kwargs)
        self.judge = judge
        judge.trainer = self
        judge.plan = self._plan_critic_batch
        self._n_replayed = 0
        self.game, self.sampler = judge.game, judge.sampler
        self.lambda_p, self.lambda_c = lambda_p, lambda_c
        self.critic_pairs, self.replay_ratio = critic_pairs, replay_ratio
        self.replay = ReplayBuffer(replay_capacity if replay_ratio > 0 else 0, self.args.seed)
        self.rng = random.Random(rank_seed(f"raro-trainer|{self.args.seed}"))
        self.history: list[dict[str, float]] = []
        self.critic_model = critic_model
        self.critic_lr_scale = critic_lr_scale  # separate critic: its lr = the schedule's lr x this
        self.critic_warmup_steps, self.critic_warmup_lr = critic_warmup_steps, critic_warmup_lr
        self._warmed = False
        self.show_progress = False  # the warm-up's progress bar (raro() sets it from the config)
        self.critic_optimizer = None
        self._critic_batch: dict | None = None
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

    # ---- resumable state (resume.py) -------------------------------------------------------
    CRITIC_FILE = "sparring-critic.pt"

    def sparring_state(self) -> dict:
        """GRPO's, plus the game's random generators, the replay buffer, the per-step history
        and whether the critic's warm-up is done (it runs once, before the first step)."""
        from .resume import rng_state

        return {
            **super().sparring_state(),
            "rng": rng_state(self.rng),
            "judge_rng": rng_state(self.judge.rng),
            "replay": self.replay.state_dict(),
            "history": self.history,
            "warmed": self._warmed,
        }

    def load_sparring_state_dict(self, state: dict) -> None:
        from .resume import set_rng_state

        super().load_sparring_state_dict(state)
        set_rng_state(self.rng, state["rng"])
        set_rng_state(self.judge.rng, state["judge_rng"])
        self.replay.load_state_dict(state["replay"])
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
        if self.critic_warmup_steps and not self._warmed and self.model.training:
            from .raro_warmup import warm_up_critic

            self._warmed = True
            self.history.append(
                warm_up_critic(
                    self,
                    self.critic_model or self.model,
                    self.critic_warmup_steps,
                    self.critic_warmup_lr,
                    self.args.seed,
                    self.show_progress,
                )
            )
        out = super()._generate_and_score_completions(inputs)
        rnd = self.judge.last
        if not self.model.training or rnd is None:
            return out
        self.judge.last = None
        dev = out["completion_ids"].device
        pr = torch.tensor([float("nan") if r is None else r for r in rnd.policy_rewards])
        adv_p = dr_grpo_advantages(pr, self.num_generations).to(dev)
        rows, adv_c, stats = self._critic_rows(rnd)
        self._count_tokens(rnd.rollouts, rows)
        self.spend_rollouts("critic_sampling", self.critic_model or self.model, rnd.rollouts + rnd.extra_rollouts)
        rows, adv_c = self._even_critic_rows(rows, adv_c)
        step = {**stats, "raro/policy_reward": float(torch.nanmean(pr)) if (~pr.isnan()).any() else 0.0}
        self._log_step(step)
        self.last_round = rnd
        out["advantages"] = adv_p * self.lambda_p
        self._critic_batch = None
        if rows and self.critic_model is not None:
            self._critic_update(rows, adv_c)
        elif rows:  # shared weights: a second loss term of the same optimizer step (compute_loss)
            self._critic_batch = self._critic_inputs(
                rows, adv_c * self.lambda_c, self.model, old="old_per_token_logps" in out
            )
        return out

    def _verdict_loss(self, model, rows: list[CriticRollout], keys: list[Judgement]) -> torch.Tensor:
        """Critic warm-up (``raro_warmup``): cross-entropy of the true label (``Judgement.truth``: which answer
        is the expert's, known from the demonstrations alone) among the labels' first tokens,
        at the position the constrained decoder sampled the label from (after the rollout's
        own reasoning and the forced ``Verdict: ``)."""
        t = self._critic_tensors(rows, next(model.parameters()).device)
        ids = torch.cat([t["prompt_ids"], t["completion_ids"]], 1)
        mask = torch.cat([t["prompt_mask"], t["completion_mask"]], 1)
        first = self.sampler.first_ids.to(ids.device)
        at = torch.tensor(
            [t["prompt_ids"].size(1) + max(i for i, m in enumerate(r.loss_mask) if m) - 1 for r in rows],
            device=ids.device,
        )
        self.spend("warmup", model, mask_lengths(mask), TRAIN)
        logits = model(input_ids=ids, attention_mask=mask).logits
        picked = logits[torch.arange(len(rows), device=ids.device), at][:, first].float()
        truth = torch.tensor([self.sampler.labels.index(j.truth) for j in keys], device=ids.device)
        return torch.nn.functional.cross_entropy(picked, truth)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """lambda_p * J_policy + lambda_c * J_critic (+ beta * KL of each): TRL's loss on the
        policy rows plus TRL's loss on the critic rows, each normalised over its own rows
        (padding both into one tensor would stretch every policy row to the critic's length)."""
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self._critic_batch is not None and model.training:
            # through the unwrapped model: data-parallel sees one forward per step whatever a
            # rank's critic rows (none on one rank, many on another), and one backward of the
            # sum reduces each gradient once
            inner = self.accelerator.unwrap_model(model)
            self.spend("critic_train", inner, _attended(self._critic_batch), TRAIN)
            with self._quiet_metrics():
                loss = loss + self._compute_loss(inner, self._critic_batch)
        return loss

    def _plan_critic_batch(self, judgements: list[Judgement]) -> tuple[list[int], list[Judgement]]:
        """Before the critic samples (the judge's ``plan``): which fresh pairs the critic
        trains on, and the extra judgements its batch needs: ``replay_ratio`` of the batch
        from the replay buffer (judged afresh by the current critic) and, for a pointwise
        critic, one expert answer shown alone for every policy answer it judges (fresh or
        replayed), so that neither label is the batch's majority: with fewer expert answers
        "always policy" was the critic's best reply (measured: docs/results.md)."""
        g, n_pairs = self.game, len(judgements)
        chosen = list(range(n_pairs))
        if self.critic_pairs and n_pairs > self.critic_pairs:
            chosen = sorted(self.rng.sample(chosen, self.critic_pairs))
        n_replay = round(len(chosen) * self.replay_ratio / (1.0 - self.replay_ratio)) if self.replay_ratio else 0
        replay = self.replay.sample(n_replay)
        extra: list[Judgement] = []
        if g.pointwise:
            shown = [judgements[n].triple for n in chosen] + list(replay)
            extra = [g.judgement(Triple(t.question, t.expert, None, t.problem), self.rng) for t in shown]
        replayed = [g.judgement(t, self.rng) for t in replay]
        self._n_replayed = len(replayed)
        return chosen, extra + replayed

    def _critic_rows(self, rnd: Round) -> tuple[list[CriticRollout], torch.Tensor, dict]:
        """The critic's training rows (chosen fresh pairs + the planned extras), their
        advantages, the step's verdict statistics."""
        k, g = rnd.k, self.game
        verdicts = [(r.verdict, j) for n, j in enumerate(rnd.judgements) for r in rnd.rollouts[n * k : (n + 1) * k]]
        stats = verdict_stats(verdicts, g)
        stats["raro/critic_length"] = sum(len(r.completion_ids) for r in rnd.rollouts) / max(1, len(rnd.rollouts))
        rows = [r for n in rnd.chosen for r in rnd.rollouts[n * k : (n + 1) * k]] + rnd.extra_rollouts
        keys = [rnd.judgements[n] for n in rnd.chosen for _ in range(k)] + [j for j in rnd.extra for _ in range(k)]
        n_rep = self._n_replayed * k
        if n_rep:
            rv = [(r.verdict, j) for r, j in zip(rows[-n_rep:], keys[-n_rep:])]
            stats["raro/replay_critic_accuracy"] = verdict_stats(rv, g)["raro/critic_accuracy"]
        self.replay.add(j.triple for j in rnd.judgements)
        stats["raro/replay_size"] = float(len(self.replay))
        rewards = torch.tensor([g.rewards(r.verdict, j)[0] for r, j in zip(rows, keys)])
        rewards[torch.tensor([r.truncated for r in rows], dtype=torch.bool)] = float("nan")
        stats["raro/critic_reward"] = float(torch.nanmean(rewards)) if len(rows) else 0.0
        group = k if k > 1 else max(1, len(rows))
        adv = dr_grpo_advantages(rewards, group) if rows else rewards
        stats["raro/critic_rows"] = float(len(rows))
        return rows, adv, stats

    def _even_critic_rows(self, rows: list[CriticRollout], adv: torch.Tensor):
        """Several ranks: as many critic rows on every rank (the most any rank has), padded
        with blank rows (one token each, loss mask 0, advantage 0). A rank's critic rows
        depend on its policy answers; unequal counts would break TRL's gathered per-row
        statistics, and a rank without rows would skip the collectives the others wait in."""
        if world_size() <= 1:
            return rows, adv
        pad = max(gather(len(rows))) - len(rows)
        if pad <= 0:
            return rows, adv
        tok = self.processing_class
        blank = CriticRollout([tok.pad_token_id], [tok.eos_token_id], [0], "", None, truncated=True)
        return rows + [blank] * pad, torch.cat([adv.float(), torch.zeros(pad)])

    def _count_tokens(self, judged: list[CriticRollout], rows: list[CriticRollout]) -> None:
        """The budget counts critic tokens too: prompt + completion of every critic sample."""
        fresh = {id(r) for r in judged}
        extra = sum(r.tokens for r in rows if id(r) not in fresh)
        self.count_tokens(sum(r.tokens for r in judged) + extra)

    def spend_rollouts(self, kind: str, model, rollouts: list[CriticRollout]) -> None:
        """FLOPs of sampling critic rollouts: a forward over each one's prompt + completion."""
        self.spend(kind, model, [r.tokens for r in rollouts])

    def _log_step(self, step: dict[str, float]) -> None:
        for key, v in step.items():
            self._metrics["train"][key].append(v)
        self.history.append({"step": int(self.state.global_step) + 1, **{k: round(v, 4) for k, v in step.items()}})

    # ---- batches -------------------------------------------------------------------------
    def _critic_tensors(self, rows: list[CriticRollout], dev) -> dict[str, torch.Tensor]:
        pad = self.processing_class.pad_token_id
        P = max(len(r.prompt_ids) for r in rows)
        C = max(len(r.completion_ids) for r in rows)
        return {
            "prompt_ids": _pad_left([r.prompt_ids for r in rows], P, pad).to(dev),
            "prompt_mask": _pad_left([[1] * len(r.prompt_ids) for r in rows], P, 0).to(dev),
            "completion_ids": _pad_right([r.completion_ids for r in rows], C, pad).to(dev),
            "completion_mask": _pad_right([[0 if r.truncated else 1] * len(r.completion_ids) for r in rows], C, 0).to(
                dev
            ),
            "tool_mask": _pad_right([r.loss_mask for r in rows], C, 0).to(dev),
        }

    def _logps(self, model, t: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = torch.cat([t["prompt_ids"], t["completion_ids"]], 1)
        mask = torch.cat([t["prompt_mask"], t["completion_mask"]], 1)
        self.spend("critic_logprobs", model, mask_lengths(mask))
        with torch.no_grad():
            logps, _, _ = self._get_per_token_logps_and_entropies(model, ids, mask, t["completion_ids"].size(1))
        return logps

    def _critic_inputs(self, rows: list[CriticRollout], adv: torch.Tensor, model, old: bool = False) -> dict:
        t = self._critic_tensors(rows, next(model.parameters()).device)
        if self.beta != 0.0:
            t["ref_per_token_logps"] = self._logps(self.ref_model, t)
        if old:
            t["old_per_token_logps"] = self._logps(model, t)
        t["advantages"] = adv.to(t["completion_ids"].device)
        t["num_items_in_batch"] = (t["completion_mask"] * t["tool_mask"]).sum()
        return t

    @contextmanager
    def _quiet_metrics(self):
        """Keep the critic rows out of TRL's logged policy statistics (entropy, clipping)."""
        saved, self._metrics["train"] = self._metrics["train"], defaultdict(list)
        try:
            yield
        finally:
            self._metrics["train"] = saved

    def _critic_update(self, rows: list[CriticRollout], adv_c: torch.Tensor) -> None:
        """Separate-critic ablation: one optimizer step of the critic model on its rows (in
        several processes on the mean gradient over ranks, so every rank's critic is the same)."""
        model = self.critic_model
        if not rows:  # several ranks: every rank has as many rows (_even_critic_rows), so all return
            return
        lr = self.lr_scheduler.get_last_lr()[0] if self.lr_scheduler is not None else self.args.learning_rate
        lr *= self.critic_lr_scale
        for group in self.critic_optimizer.param_groups:
            group["lr"] = lr
        with self._quiet_metrics():
            model.train()
            t = self._critic_inputs(rows, adv_c, model)
            self.spend("critic_train", model, _attended(t), TRAIN)
            self._compute_loss(model, t).backward()
            average_gradients(model.parameters(), 1.0 / world_size())  # the critics stay equal
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
            self.critic_optimizer.step()
            self.critic_optimizer.zero_grad(set_to_none=True)
