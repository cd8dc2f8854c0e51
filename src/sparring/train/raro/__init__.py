"""RARO: an adversarial relativistic critic game that learns from demonstrations alone
(METHODS 1.7). No verifier is in the training loop.

    from sparring.train import train
    train("raro", "zoo:countdown-base", "countdown", {"replay_ratio": 0.5}, "runs/raro", "600s")

The demonstrations are a recipe's (prompt, completion) rows (``imitation`` by default); the
completion is the expert answer. One model plays the policy (answers the prompt) and the
critic (judges a question with two answers in random order, one expert, one policy; ends
with ``Verdict: 1|2|tie``). The task's verifier is used only for the greedy accuracy
before/after training and, when ``monitor_every > 0``, for monitor metrics logged beside
training (``monitor/*``).

The modules, each one part of the game:

- ``options.py``: :class:`RAROOptions` (every option and ablation switch; docs/raro.md)
  and the TRL arguments they give;
- ``game.py``: the rules, free of models (prompts, verdict parser, rewards, replay buffer);
- ``sampling.py``: the critic's decoding (constrained or free);
- ``planning.py``: which judgements make up each step's critic batch;
- ``judging.py``: the critic judging a step's answers (a :class:`Round`), the step's
  statistics, the verifier-backed monitor statistics;
- ``objectives.py``: what the critic is trained on (``critic_objective``: sampled verdicts
  or the exact expected reward over its labels);
- ``batches.py``: critic rollouts as tensors;
- ``trainer.py``: :class:`RAROTrainer`, the GRPO step of both roles;
- ``warmup.py``: the optional supervised critic warm-up before the game;
- ``method.py``: the registered ``raro`` run;
- ``rerank.py``: the trained critic as a test-time tournament reranker (``sparring rerank``).

The checkpoint is the shared model (policy and critic); with ``shared_critic: false`` the
critic is saved in ``<checkpoint>/critic``. ``run.json`` holds the game settings the
reranker needs, and the per-step history under ``metrics.train.history``.
"""

from __future__ import annotations

from .method import expert_dataset, raro  # registers raro (light: models load when it runs)
from .options import CRITIC_DIR, RAROOptions, trainer_args

__all__ = ["CRITIC_DIR", "RAROOptions", "expert_dataset", "raro", "trainer_args"]
