"""RARO step time vs GRPO step time, same model and same policy batch, in one run.

    PYTHONPATH=src python bench/raro.py [--base zoo:countdown-base] [--steps 6] [--rounds 3]
        [--set critic_objective=expected --set shared_critic=false ...]

Both trainers are built from the same base weights with the same policy batch
(``prompts_per_step`` x ``num_generations`` rollouts of at most ``max_completion_length``
tokens, same seed, same data). GRPO scores with the verifier (``correct``); RARO with its
critic, built as ``sparring train raro`` builds it (``RAROTrainer`` from its options, a
separate critic model when ``shared_critic`` is false): the shipped defaults (judging
every distinct answer, training on ``critic_pairs`` fresh pairs + as many replayed ones),
or any RARO option given with ``--set KEY=VALUE`` as on ``sparring train raro``. Rounds alternate GRPO and RARO so that a noisy
neighbour slows both; per-step wall times after the first step of each round are pooled
and the ratio of medians is printed (goal <= 1.5). Tokens per step are printed too.
"""

from __future__ import annotations

import argparse
import statistics
import time

from transformers import TrainerCallback


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []
        self.t0 = 0.0

    def on_step_begin(self, args, state, control, **kw):
        self.t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self.t0)


def build(kind: str, base: str, task, opts: dict, steps: int, scratch: str, raro_opts: dict | None = None):
    from sparring.rewards import get_reward
    from sparring.train import Budget
    from sparring.train.callbacks import attach_budget
    from sparring.train.common import load_for_training, with_style
    from sparring.train.data import prompt_dataset
    from sparring.train.grpo import GRPOOptions, grpo_config
    from sparring.train.raro import RAROOptions, expert_dataset, trainer_args
    from sparring.train.raro.trainer import RAROTrainer
    from sparring.train.trainers import SparringGRPOTrainer

    budget = Budget(steps=steps)
    common = {"seed": 0, "show_progress": False, "eval_problems": 0, **opts}
    raro_opts = raro_opts or {}
    if kind == "grpo":
        cfg = with_style(GRPOOptions.from_any(common), base, task)  # as train() resolves it
        ds, _ = prompt_dataset(task, cfg.n, cfg.seed)
        model, tok, dd = load_for_training(base, cfg)
        trainer = SparringGRPOTrainer(
            model=model,
            reward_funcs=[get_reward("correct")],
            args=grpo_config(cfg, budget, scratch, dd),
            train_dataset=ds,
            processing_class=tok,
            advantage="group",
        )
    else:
        cfg = with_style(RAROOptions.from_any({**common, "monitor_every": 0, **raro_opts}), base, task)
        ds, _ = expert_dataset(task, cfg)
        model, tok, dd = load_for_training(base, cfg)
        trainer = RAROTrainer(
            model=model,
            args=trainer_args(cfg, budget, scratch, dd),
            train_dataset=ds,
            processing_class=tok,
            options=cfg,
            critic_model=None if cfg.shared_critic else load_for_training(base, cfg)[0],
        )
    attach_budget(trainer, budget, warmup_steps=0, min_lr_ratio=1.0, show_progress=False, desc=kind)
    timer = StepTimer()
    trainer.add_callback(timer)
    return trainer, timer


def main() -> None:
    import tempfile

    from sparring.models import list_zoo
    from sparring.settings import parse_settings
    from sparring.tasks import get_task

    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="zoo:countdown-base" if "countdown-base" in list_zoo() else "tiny")
    ap.add_argument("--steps", type=int, default=6, help="steps per round (the first is not timed)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prompts-per-step", type=int, default=32)
    ap.add_argument("--num-generations", type=int, default=8)
    ap.add_argument("--max-completion-length", type=int, default=48)
    ap.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="a RARO option (repeatable)"
    )
    a = ap.parse_args()
    raro_opts = parse_settings(a.sets)
    task = get_task("countdown")
    opts = {
        "n": 2000,
        "prompts_per_step": a.prompts_per_step,
        "num_generations": a.num_generations,
        "max_completion_length": a.max_completion_length,
        "learning_rate": 1e-4,
    }
    times: dict[str, list[float]] = {"grpo": [], "raro": []}
    tokens: dict[str, list[float]] = {"grpo": [], "raro": []}
    for r in range(a.rounds):
        for kind in ("grpo", "raro"):
            with tempfile.TemporaryDirectory() as scratch:
                trainer, timer = build(kind, a.base, task, opts, a.steps, scratch, raro_opts)
                trainer.train()
            times[kind] += timer.times[1:]
            tokens[kind].append(trainer.state.num_input_tokens_seen / max(1, trainer.state.global_step))
            print(f"round {r + 1} {kind}: " + " ".join(f"{x:.2f}" for x in timer.times) + " s/step", flush=True)
    g, ro = statistics.median(times["grpo"]), statistics.median(times["raro"])
    print(
        f"\nbase {a.base}; policy batch {a.prompts_per_step} x {a.num_generations}, "
        f"max {a.max_completion_length} tokens; {len(times['grpo'])} timed steps each"
        + (f"; RARO options {raro_opts}" if raro_opts else "")
    )
    print(f"GRPO median step {g:.3f} s ({statistics.mean(tokens['grpo']):,.0f} tokens/step)")
    print(f"RARO median step {ro:.3f} s ({statistics.mean(tokens['raro']):,.0f} tokens/step, critic included)")
    print(f"RARO step time / GRPO step time = {ro / g:.2f}  (goal <= 1.5)")


if __name__ == "__main__":
    main()
