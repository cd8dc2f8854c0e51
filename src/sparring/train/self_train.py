"""Self-training, plain and with critique in the loop (METHODS.md 1.9).

``self-train`` (the baseline; STaR / expert iteration): ``rounds`` rounds over one fixed
pool of ``n`` training problems; each round samples ``samples`` (k) answers per problem
from the current model, keeps the ones ``task.verify`` accepts, and fine-tunes on them
(the SFT of ``sft.py``: TRL's SFTTrainer, loss on the completion only, the budget-following
schedule). ``critique-loop``: the same rounds, but wrong attempts also go to a critic
(``critics.py``: the programmatic teacher, a critique-trained checkpoint, or LLM teachers)
whose step-level critique (METHODS.md 1.2) is shown to the actor in the refine prompt of
``corpus/refine.py`` (the CFT prompt around question and attempt, the critique,
``Corrected solution:``; the document format of the v2 pretraining mix, so a v2 base has
seen it and round 0 needs no teaching); verified fixes join the round's data. The round
mechanics and numbers are in ``self_train_rounds.py``.

**What a correct refinement teaches** (``refine_rows``, default ``question``): the fix
joins the data as a plain (question -> fixed solution) row, the row type of every other
solution, because what finding 8 measures is the *solver's* data: critique keeps hard
problems in it when the fix is a solution the model is trained to produce from the
question alone, which is also how it is asked at test time. ``refine`` trains the fix after
the refine prompt instead (the refining skill, not solving); ``both`` adds both rows.

**Budget.** Every limit of the budget is split evenly over the rounds, cumulatively: round
r's SFT may spend up to r/rounds of each limit less what all rounds so far spent (sampling,
critiques and refinements count into FLOPs, tokens and seconds by ``flops.py``'s rule,
through ``counted.CountingResponder``; SFT steps are the only steps). So what a round's
sampling takes comes out of its own SFT, a round without a verified answer leaves its
share to the next, and the last round ends the budget. A round whose sampling alone
exceeds its share is one ValueError in round 1 (lower ``n``, ``samples`` or ``rounds``);
in a later round its SFT is skipped and the history says so. Each round
continues from the last round's weights (``restart: true``: from the base, as STaR does).

**Resuming** (``self_train_resume.py``, docs/resume.md): after each round the run writes a
round checkpoint into ``OUT.resume/round-<r>/`` (the round's weights, the history and SFT
log so far, the budget spent, the RNG states); ``train(..., resume=True)`` /
``--resume`` continues after the last complete round with the history and weights an
uninterrupted run has there. ``checkpoint_every``'s interval also checkpoints inside a
round's SFT (``OUT.resume/sft-<r>.resume/``); ``off`` writes neither.

``run.json``: ``metrics.train.history`` holds one entry per round (``round_stats``: data
size, hard share, distinct correct solutions per problem, pass@k, per-difficulty shares,
the critic's counts, the round's SFT steps and FLOPs, and per problem the correct samples,
rows and distinct solutions); ``metrics.train.problems`` the pool's ids and difficulties;
``metrics.train.resumed_from_round`` the round a resumed run continued after.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .budget import Budget
from .config import opt
from .registry import register_method
from .sft import SFTOptions

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from pathlib import Path

    from sparring.runcard import RunCard
    from sparring.tasks import Task

REFINE_ROWS = ("question", "refine", "both")


@dataclass
class SelfTrainOptions(SFTOptions):
    recipe: str = opt(
        "imitation", "Recipe (or dataset dir) whose problems form the training pool (its completions are not used)."
    )
    n: int = opt(500, "Training problems: the pool every round samples (the same problems each round).")
    rounds: int = opt(3, "Rounds of sample -> verify -> SFT; every budget limit is split evenly over them.")
    samples: int = opt(8, "Answers sampled per problem each round (k; pass@k is over them).")
    temperature: float = opt(
        0.5, "Sampling temperature (the zoo base: T=1 samples are rarely right, 5.5% vs 23.6% greedy)."
    )
    max_new_tokens: int | None = opt(None, "Generation limit per answer (None: 48 tokens in char style, 256 in chat).")
    dedupe: bool = opt(True, "Keep each distinct correct solution of a problem once (lines stripped).")
    max_per_problem: int = opt(0, "At most this many rows per problem per round (0: no cap).")
    restart: bool = opt(False, "Each round fine-tunes the base again (STaR); false: continue from the last round.")
    method_name = "self-train"

    def answer_tokens(self) -> int:
        from sparring.models.style import CHAT_ROLLOUT_TOKENS

        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return CHAT_ROLLOUT_TOKENS if self.style == "chat" else 48

    def validate(self) -> None:
        super().validate()
        self.check_int("rounds", lo=1, hi=1000)
        self.check_int("samples", lo=1, hi=1024)
        self.check_float("temperature", lo=0.0, lo_open=True)
        if self.max_new_tokens is not None:
            self.check_int("max_new_tokens", lo=1)
        self.check_bool("dedupe")
        self.check_int("max_per_problem", lo=0)
        self.check_bool("restart")


@dataclass
class CritiqueLoopOptions(SelfTrainOptions):
    critic: Any = opt(
        "programmatic",
        "Who critiques wrong attempts: programmatic (the verifier's exact teacher), a "
        "critique-trained checkpoint (directory or zoo:NAME), or a mapping of LLM-teacher "
        'options {"teachers": [{"url", "model"}], ...} (docs/teachers.md).',
    )
    critic_max_new_tokens: int | None = opt(
        None, "A checkpoint critic's generation limit (None: the critique probe's cap)."
    )
    refine_per_problem: int = opt(1, "Distinct wrong attempts per problem sent to the critic and refined each round.")
    refine_rows: str = opt(
        "question",
        "What a verified fix trains: question (question -> fix, the solver's data), refine "
        "(refine prompt -> fix) or both.",
    )
    method_name = "critique-loop"

    def validate(self) -> None:
        super().validate()
        self.critic_spec()
        if self.critic_max_new_tokens is not None:
            self.check_int("critic_max_new_tokens", lo=1)
        self.check_int("refine_per_problem", lo=1, hi=1024)
        self.check_choice("refine_rows", REFINE_ROWS)

    def critic_spec(self):
        from .critics import parse_critic

        return parse_critic(self.critic, f"{self.method_name}.critic")


def round_budget(budget: Budget, r: int, rounds: int, spent: dict[str, float], what: str) -> Budget:
    """What round ``r``'s SFT may spend: r/rounds of each limit (counts exactly, the
    remainder to the last round), less ``spent`` so far; a limit already used up is one
    ValueError naming ``what``."""
    left: dict[str, Any] = {}
    for name in ("steps", "tokens", "seconds", "flops"):
        total = getattr(budget, name)
        if total is None:
            continue
        target = total * r / rounds if name == "seconds" else total * r // rounds
        left[name] = target - spent.get(name, 0)
        if left[name] <= 0:
            raise ValueError(
                f"{what}: after round {r}'s sampling nothing of its {name} share is left for training "
                f"({spent.get(name, 0):.4g} spent of {target:.4g}); lower n, samples or rounds, or raise the budget"
            )
    return Budget(**{k: (float(v) if k == "seconds" else int(v)) for k, v in left.items()})


def _pool(task: Task, cfg: SelfTrainOptions, what: str):
    """The training pool: the recipe's problems, one per problem id, and its data card."""
    from sparring.tasks import load_problem

    from .data import prompt_dataset

    ds, card = prompt_dataset(task, cfg.n, cfg.seed, cfg.recipe, cfg.recipe_options, what=what, style=cfg.style)
    return [load_problem(json.loads(x)) for x in ds["problem"]], card


def _train_round(model, tok, dd, rows, cfg, share: Budget, out, desc: str, ckpts) -> tuple[Any, dict]:
    """SFT on one round's rows within ``share`` (``sft.py``'s tokenisation and trainer),
    with the resumable checkpoints ``ckpts`` (``resume.Checkpoints``) inside it."""
    from .common import scratch_dir, train_metrics
    from .sft import sft_trainer, tokenized_rows

    ds, mean, rcfg = tokenized_rows(rows.select_columns(["prompt", "completion"]), tok, cfg, desc)
    with scratch_dir() as scratch:
        out_dir, save = ckpts.output_dir(scratch), ckpts.trainer_args()
        trainer, tracker = sft_trainer(
            model, tok, dd, ds, rcfg, share, out_dir, mean, out, desc=ckpts.describe(desc), save=save
        )
        ckpts.attach(trainer, tracker, {})
        ckpts.train(trainer)
    m = train_metrics(trainer, tracker)
    m["rows"] = len(ds)
    m["epochs"] = round(m["steps"] * min(rcfg.batch_size, len(ds)) / len(ds), 3)  # a step takes the whole set at most
    return trainer.model, m


def _generation_spend(ledger, kinds_before: dict, tokens: int, seconds: float) -> dict[str, Any]:
    """What a round's generation spent: its tokens, seconds, and the FLOPs ``ledger``
    gained since ``kinds_before`` (its ``parts`` then), in total and by kind."""
    kinds = {k: v - kinds_before.get(k, 0) for k, v in ledger.parts.items() if v != kinds_before.get(k, 0)}
    return {"tokens": tokens, "seconds": seconds, "flops": sum(kinds.values()), "flops_by_kind": kinds}


def _add(total: dict, part: dict) -> None:
    """Add a spend (steps, tokens, seconds, FLOPs and FLOPs by kind) into ``total``."""
    for key in ("steps", "tokens", "seconds", "flops"):
        total[key] = total.get(key, 0) + (part.get(key) or 0)
    for kind, n in (part.get("flops_by_kind") or {}).items():
        total["flops_by_kind"][kind] = total["flops_by_kind"].get(kind, 0) + int(n)


def run_self_train(method: str, base: str, task: Task, cfg: SelfTrainOptions, out: Path, budget: Budget) -> RunCard:
    """The rounds (module doc): sample, (critique, refine), verify, SFT; then save."""
    from sparring.corpus import fingerprint

    from .common import evaluate, load_for_training, write_checkpoint
    from .counted import CountingResponder
    from .critics import make_critic
    from .distributed import world_size
    from .flops import FlopLedger
    from .self_train_resume import RoundCheckpoints
    from .self_train_rounds import run_round

    if world_size() > 1:
        raise ValueError(f"{method}: runs in one process (its rounds generate between trainings); use processes 1")
    if budget.steps is not None and budget.steps < cfg.rounds:
        raise ValueError(f"{method}.rounds: {cfg.rounds} rounds need a budget of at least {cfg.rounds} steps")
    problems, data = _pool(task, cfg, method)
    ckpts = RoundCheckpoints(method, cfg, budget, base, task, data, out)  # a resume of another run: refused here
    model, tok, dd = load_for_training(ckpts.weights(base), cfg)
    before = ckpts.saved_or("before", lambda: evaluate(model, tok, task, cfg, "before"))  # not redone on a resume
    ledger, teacher_counts = FlopLedger(), {}
    critic = None
    if isinstance(cfg, CritiqueLoopOptions):
        spec = cfg.critic_spec()
        data["critic"] = spec.card()
        critic = make_critic(
            spec, ledger, cfg.style, cfg.chat_format(), cfg.critic_max_new_tokens, teacher_counts, dd.device
        )
    spent: dict[str, Any] = ckpts.saved_or(
        "spent", lambda: {"steps": 0, "tokens": 0, "seconds": 0.0, "flops": 0, "flops_by_kind": {}}
    )
    history, log = ckpts.saved_or("history", list), ckpts.saved_or("log", list)
    trained = ckpts.saved_or("trained", lambda: False)
    ckpts.restore_rng()  # last: loading the round's weights above must not move them
    for r in range(ckpts.round + 1, cfg.rounds + 1):
        t0, kinds0 = time.perf_counter(), dict(ledger.parts)
        if r > 1 and cfg.restart:
            model, tok, dd = load_for_training(base, cfg)
        model.config.use_cache = True  # a trainer switched it off: generation wants the KV cache
        chat = {"chat": cfg.style == "chat", "chat_format": cfg.chat_format()}
        sampler = CountingResponder(model, tok, ledger, "sampling", **chat)
        refiner = CountingResponder(model, tok, ledger, "refine", **chat)
        rnd = run_round(sampler, refiner, critic, task, problems, cfg, seed=cfg.seed * 1_000_003 + r)
        gen = _generation_spend(ledger, kinds0, sampler.tokens + refiner.tokens, time.perf_counter() - t0)
        _add(spent, gen)
        entry: dict[str, Any] = {"round": r, **rnd.stats, "generation": gen, "sft": None}
        if teacher_counts:
            entry["teacher"] = dict(teacher_counts)
            teacher_counts.clear()
        share = None
        if rnd.rows is not None:
            try:
                share = round_budget(budget, r, cfg.rounds, spent, method)
            except ValueError:
                if not trained:  # nothing trained yet: the options cannot work at this budget
                    raise
                entry["sft"] = {"skipped": "the budget's share was spent by earlier rounds and this sampling"}
        if share is not None:
            rcfg = replace(cfg, seed=cfg.seed + 1000 * (r - 1))
            desc = f"{method} round {r}/{cfg.rounds}"
            data_hash = fingerprint(rnd.rows)
            inner = ckpts.sft(r, rcfg, budget, base, task, data_hash)  # checkpoint_every inside the round's SFT
            model, sft = _train_round(model, tok, dd, rnd.rows, rcfg, share, out, desc, inner)
            offset_steps, offset_flops = spent["steps"], spent["flops"]
            log += [
                {**h, "step": offset_steps + (h.get("step") or 0), "flops": offset_flops + h.get("flops", 0)}
                for h in sft.pop("log_history", [])
            ]
            _add(spent, sft)
            entry["sft"] = {k: sft.get(k) for k in ("steps", "tokens", "seconds", "flops", "train_loss", "epochs")}
            entry["data_hash"] = data_hash
            trained = True
        entry["per_problem"] = rnd.per_problem
        history.append(entry)
        state = {"history": history, "log": log, "spent": spent, "trained": trained, "before": before}
        ckpts.save(r, model, tok, base, state)
    if not trained:
        ckpts.done()  # the same rounds again would fail the same way: nothing to resume
        raise ValueError(
            f"{method}: no verified-correct answer in any of {cfg.rounds} round(s) of {cfg.samples} samples "
            f"of {len(problems)} problems: the base cannot solve the task at temperature {cfg.temperature}"
        )
    train = {
        **{k: (round(v, 2) if k == "seconds" else v) for k, v in spent.items()},
        "rounds": cfg.rounds,
        "history": history,
        "log_history": log,
        "problems": {"id": [p.id for p in problems], "difficulty": [p.difficulty for p in problems]},
    }
    train["flops_by_kind"] = dict(sorted(spent["flops_by_kind"].items()))
    if ckpts.round:
        train["resumed_from_round"] = ckpts.round
    metrics = {"train": train, "before": before, "after": evaluate(model, tok, task, cfg)}
    card = write_checkpoint(
        model, tok, out, method=method, cfg=cfg, budget=budget, base=base, task=task, data=data, metrics=metrics
    )
    ckpts.done()
    return card


@register_method("self-train", SelfTrainOptions, resumable=True)
def self_train(base: str, task: Task, config: SelfTrainOptions, out: Path, budget: Budget) -> RunCard:
    """Self-training: rounds of sample k answers, keep verified ones, SFT on them."""
    return run_self_train("self-train", base, task, config, out, budget)


@register_method("critique-loop", CritiqueLoopOptions, resumable=True)
def critique_loop(base: str, task: Task, config: CritiqueLoopOptions, out: Path, budget: Budget) -> RunCard:
    """Self-training with critique in the loop: wrong attempts critiqued, verified fixes join the data."""
    return run_self_train("critique-loop", base, task, config, out, budget)
