"""RARO's options (``sparring train raro --options``) and the TRL arguments they give.

Every stabiliser the paper ablates is one switch here (docs/raro.md lists each with a
command): ``tie`` (false: no tie label), ``pointwise`` (judge one answer instead of
comparing two), ``replay_ratio`` (0: no replay), ``shared_critic`` (false: a separate
critic model), ``reasoning_tokens`` (0: no critic reasoning), ``drop_truncated`` (false:
judge and train on truncated answers), ``loss`` (``dr_grpo`` or ``grpo``, or any loss
variant of ``variants.py``). ``critic_objective`` picks what the critic is trained on
(``objectives.py``): its sampled verdicts, or the exact expectation over its labels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..config import opt
from ..rollout_config import RolloutOptions
from ..variants import ADVANTAGES, LOSSES, get_loss
from .game import PAIRWISE_TEMPLATE, POINTWISE_TEMPLATE, Game
from .objectives import CRITIC_OBJECTIVES, LABEL_TOKEN_WEIGHTS

CRITIC_DIR = "critic"


@dataclass
class RAROOptions(RolloutOptions):
    recipe: str = opt("imitation", "Demonstrations: a recipe (or dataset dir) whose completion is the expert answer.")
    n: int = opt(4000, "Demonstrations (questions with their expert answer).")
    temperature: float = opt(0.5, "Sampling temperature for policy answers and critic rollouts (grpo's default).")
    loss: str = opt(
        "dr_grpo",
        "Loss variant (variants.py) of both roles: dr_grpo (constant normaliser, mean-centred advantages) "
        "or grpo (per-sequence mean, group-std advantages); also: "
        + ", ".join(sorted(set(LOSSES) - {"dr_grpo", "grpo"}))
        + ".",
    )
    advantage: str = opt(
        "", "Advantage function of both roles (empty: the loss variant's): " + ", ".join(sorted(ADVANTAGES)) + "."
    )
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
    critic_objective: str = opt(
        "sampled",
        "What the critic is trained on: sampled (its sampled verdict's reward, GRPO); expected (the exact "
        "expected reward sum_label P(label) R(label) at the verdict token, and GRPO on its reasoning with that "
        "expectation as the reward; constrained decoding only).",
    )
    critic_template: str = opt(PAIRWISE_TEMPLATE, "Pairwise critic prompt ({question}, {answer1}, {answer2}).")
    pointwise_template: str = opt(POINTWISE_TEMPLATE, "Pointwise critic prompt ({question}, {answer1}).")
    monitor_every: int = opt(
        1, "Verify the policy answers every N steps for monitor/* metrics (0: never call the verifier during training)."
    )

    method_name = "raro"

    def validate(self) -> None:
        super().validate()
        self.check_choice("loss", LOSSES)
        if self.advantage:
            self.check_choice("advantage", ADVANTAGES)
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
        self.check_choice("critic_objective", CRITIC_OBJECTIVES)
        constrained = self.verdict_decoding == "constrained"
        if self.critic_warmup_steps and not constrained:
            raise self._err(
                "critic_warmup_steps", "needs verdict_decoding 'constrained' (the label's position is known)"
            )
        if self.policy_reward == "expected" and not constrained:
            raise self._err("policy_reward", "'expected' needs verdict_decoding 'constrained'")
        if CRITIC_OBJECTIVES[self.critic_objective].exact_label:
            if not constrained:
                raise self._err("critic_objective", f"{self.critic_objective!r} needs verdict_decoding 'constrained'")
            loss_type = get_loss(self.loss).loss_type
            if loss_type not in LABEL_TOKEN_WEIGHTS:
                raise self._err(
                    "critic_objective",
                    f"{self.critic_objective!r} has no label-token weight for loss {self.loss!r} "
                    f"(TRL loss_type {loss_type!r}); losses it takes: {sorted(LABEL_TOKEN_WEIGHTS)}",
                )
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

    def advantage_name(self) -> str:
        """The registered advantage function both roles use (``variants.py``)."""
        return self.advantage or get_loss(self.loss).advantage


def trainer_args(cfg: RAROOptions, budget, output_dir: str, dd, save: dict | None = None):
    """TRL's GRPOConfig for RARO's step: ``grpo.grpo_config`` of the GRPO settings RARO
    runs with (its rollout options, its loss variant, top_p 1, no verifier rewards,
    truncated answers masked out of the loss when ``drop_truncated``)."""
    from ..distributed import per_rank
    from ..grpo import GRPOOptions, grpo_config

    per_rank(cfg.prompts_per_step, "raro.prompts_per_step")  # named as RARO's option when it does not divide
    shared = {f.name: getattr(cfg, f.name) for f in fields(RolloutOptions)}
    policy = GRPOOptions(
        **shared,
        loss=cfg.loss,
        top_p=1.0,
        reward_weights=[],
        mask_truncated_completions=cfg.drop_truncated,
        replay_successes=False,
    )
    return grpo_config(policy, budget, output_dir, dd, save=save)
