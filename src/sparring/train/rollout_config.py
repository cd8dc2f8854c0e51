"""Options of the methods that learn from groups of sampled answers: the GRPO family
(``grpo``, ``grpo-roc``, ``srl``) and ``raro``. Declared once here; each method's config
extends this and adds (or re-describes) what is its own."""

from __future__ import annotations

from dataclasses import dataclass

from .config import MethodConfig, opt


@dataclass
class RolloutOptions(MethodConfig):
    recipe: str = opt("imitation", "Recipe (or dataset dir) the prompts come from.")
    recipe_options: dict = opt({}, "Options passed to the recipe.")
    n: int = opt(4000, "Training problems (prompts).")
    learning_rate: float = opt(
        5e-5,
        "Peak AdamW learning rate (tuned on zoo:countdown-base: 2e-4 collapsed, 1e-4 gained less; docs/results.md).",
    )
    beta: float = opt(0.0, "KL coefficient to the base model (0: no reference model).")
    num_generations: int = opt(8, "Completions per prompt (the group size G).")
    prompts_per_step: int = opt(32, "Prompts per optimizer step.")
    temperature: float = opt(
        0.5, "Sampling temperature for rollouts (T=1 samples of the tiny base are rarely right: 5.5% vs 23.6% greedy)."
    )
    max_completion_length: int | None = opt(
        None, "Generation limit per rollout, in tokens (None: 48 in char style, 256 in chat style)."
    )
    epsilon: float = opt(0.2, "PPO clip range (low; and high unless a loss variant sets it).")
    num_iterations: int = opt(1, "Optimisation passes over each generated batch.")
    warmup_steps: int = opt(0, "Linear warm-up steps; then cosine decay over the budget.")
    min_lr_ratio: float = opt(1.0, "Final learning rate as a fraction of the peak (1: constant).")
    max_grad_norm: float = opt(1.0, "Gradient clipping norm.")

    def rollout_tokens(self) -> int:
        """The rollouts' generation limit in this config's (resolved) style."""
        from sparring.models.style import CHAT_ROLLOUT_TOKENS

        if self.max_completion_length is not None:
            return self.max_completion_length
        return CHAT_ROLLOUT_TOKENS if self.style == "chat" else 48

    def validate(self) -> None:
        super().validate()
        self.check_data_options()
        self.check_optimizer_options()
        self.check_float("beta", lo=0.0)
        self.check_int("num_generations", lo=2)
        self.check_int("prompts_per_step", lo=1)
        self.check_float("temperature", lo=0.0, lo_open=True)
        if self.max_completion_length is not None:
            self.check_int("max_completion_length", lo=1)
        self.check_float("epsilon", lo=0.0, hi=1.0, lo_open=True)
        self.check_int("num_iterations", lo=1)
