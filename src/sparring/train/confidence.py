"""Progressive confidence shaping (METHODS.md 1.10): GRPO plus a reward for confidence that
grows with the reasoning.

The run is ``grpo``'s (``run_grpo``: same trainer, data, loss variants, budget), with one
more reward function, :class:`sparring.rewards.confidence.ConfidenceShapingReward`, weighted
``confidence_weight``: each verified-correct rollout's reasoning is truncated at
``confidence_points`` points and the *policy's* probability of its answer is read at each
(the ``confidence`` probe's reading, ``tasks/continuation.py``); a rising trajectory earns
up to +1, a flat-high one (every point >= ``flat_high_threshold``) loses
``flat_high_penalty``. The reward is bound to the trainer's model once the trainer is built
(TRL's public reward-function interface; nothing of TRL is overridden): the reads go
through the one generator's scorer (``HFResponder.loglik_counted``: batched, ``no_grad``,
eval mode), and their forward FLOPs are counted into the budget under ``confidence``
(``flops.py``: a forward over each read's context + continuation), so an equal-FLOP
comparison with ``grpo`` charges the shaping what it costs.

Where "the answer" is not defined the method refuses before any model loads: the char
style of a task whose completions state no answer apart from their step chain (Countdown,
Arith: ``continuation.CHAR_NOT_APPLICABLE``). ``answer_format: stated`` reads it anyway,
for a char base trained to state its answer in the tag (a pipeline whose first stage is
``sft`` with ``recipe: stated_answer``, ``corpus/controls.py``); the task needs a chat
style for the gold answer either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import opt
from .grpo import GRPOOptions, config_rewards, run_grpo
from .registry import register_method

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from pathlib import Path

    from sparring.runcard import RunCard
    from sparring.tasks import Task

    from .budget import Budget

ANSWER_FORMATS = ("auto", "stated")


@dataclass
class ConfidenceShapingOptions(GRPOOptions):
    confidence_weight: float = opt(
        0.3,
        "Weight of the confidence-shaping reward beside the task rewards (a right answer "
        "always outranks a wrong one while weight * (1 + flat_high_penalty) < 1).",
    )
    confidence_points: int = opt(
        4, "Truncation points per rollout (2..8), evenly spaced from no reasoning to all of it."
    )
    flat_high_threshold: float = opt(0.5, "A trajectory whose every point is >= this is flat-high (the probe's rule).")
    flat_high_penalty: float = opt(1.0, "Subtracted from a flat-high trajectory's rise.")
    only_correct: bool = opt(True, "Shape verified-correct rollouts only (others get 0 from this reward).")
    answer_format: str = opt(
        "auto",
        "auto: read the answer where the style states it (chat; a char style that ends with "
        "the tag); stated: also in char style, for a base trained to state it (sft recipe "
        "stated_answer first).",
    )
    replay_min_reward: float = opt(
        0.35,
        "Total weighted reward from which a rollout counts as a success for success replay: with "
        "the default weights a correct rollout totals >= 1 - 0.3 * 2 = 0.4 and a wrong one <= 0.3 "
        "(0 with only_correct), so 0.35 marks exactly the correct ones; move it with the weights.",
    )
    method_name = "confidence-shaping"

    def validate(self) -> None:
        super().validate()
        from sparring.rewards.confidence import MAX_POINTS

        self.check_float("confidence_weight", lo=0.0, lo_open=True)
        self.check_int("confidence_points", lo=2, hi=MAX_POINTS)
        self.check_float("flat_high_threshold", lo=0.0, hi=1.0)
        self.check_float("flat_high_penalty", lo=0.0)
        self.check_bool("only_correct")
        self.check_choice("answer_format", ANSWER_FORMATS)

    def check_resolved(self, task) -> None:
        check_answer_readable(self, task)


def check_answer_readable(cfg: ConfidenceShapingOptions, task) -> None:
    """One ValueError, before training, where the answer's probability cannot be read."""
    from sparring.tasks.continuation import CHAR_NOT_APPLICABLE, char_states_answer

    if "chat" not in task.styles:
        raise ValueError(
            f"{cfg.method_name}: task {task.name} has no chat style, so no stated answer (<answer> tag) to read"
        )
    if cfg.style == "char" and cfg.answer_format == "auto" and not char_states_answer(task):
        raise ValueError(
            f"{cfg.method_name}.answer_format: not applicable to task {task.name} in char style: "
            f"{CHAR_NOT_APPLICABLE}. Use the chat style, or answer_format=stated after a stage that "
            "teaches the base to state its answer (pipeline: sft recipe=stated_answer, then confidence-shaping)"
        )


def bind_to_policy(reward, cfg: ConfidenceShapingOptions):
    """``on_trainer`` hook: bind ``reward`` to the trainer's policy (rendering through its
    tokenizer, scoring through the one generator) and count the reads' FLOPs."""

    def hook(trainer, tok) -> None:
        from sparring.models import HFResponder

        scorer = HFResponder(trainer.model, tok, cache=False, chat_format=cfg.chat_format(), saved_stops=False)

        def score(pairs):
            results, lengths = scorer.loglik_counted(pairs)
            trainer.spend("confidence", trainer.model, lengths)  # forward passes (flops.py)
            return results

        reward.bind(lambda prompt: scorer.format(prompt)[0], score)

    return hook


@register_method("confidence-shaping", ConfidenceShapingOptions, resumable=True)
def confidence_shaping(base: str, task: Task, cfg: ConfidenceShapingOptions, out: Path, budget: Budget) -> RunCard:
    """Progressive confidence shaping: GRPO plus a reward for confidence that grows with the reasoning."""
    from sparring.rewards.confidence import ConfidenceShapingReward

    check_answer_readable(cfg, task)  # the resolved style (train() resolves auto before this)
    reward = ConfidenceShapingReward(
        cfg.confidence_points, cfg.flat_high_threshold, cfg.flat_high_penalty, cfg.only_correct
    )
    return run_grpo(
        "confidence-shaping",
        base,
        task,
        cfg,
        out,
        budget,
        rewards=[*config_rewards(cfg), (reward, cfg.confidence_weight)],
        on_trainer=bind_to_policy(reward, cfg),
    )
