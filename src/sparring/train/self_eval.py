"""Post-completion self-evaluation (METHODS.md 1.11): a short SFT warm-start, then GRPO
whose completions continue after the answer with a self-evaluation block.

**Format** (``sparring.rewards.self_eval``): ``{answer}\\n<evaluation>...</evaluation>
<reward>[acc, fmt]</reward>``: the model's predictions of two verifier facts about its own
answer (correct; well formed).

**Warm-start** (``warmup_share`` of every budget limit): SFT on rows of the
``warmup_recipe`` corpus (default ``imitation``), ``warmup_wrong_share`` of them given a
wrong answer first (char: a planted flaw, ``task.flaw``; chat: the gold reasoning with a
plausible wrong answer in the tag), so both labels occur; each row is labelled by the
task's verifier: the prompt is the question *and the answer*, the completion the block the
verifier would write (``evaluation_block``), so the loss falls on the block alone and no
wrong answer is imitated. In the chat style the prompt
is the chat template's rendering up to the end of the answer, inside the assistant turn.
The warm-start is an ordinary ``sft`` run, kept in ``<out>.stages/01-warmup`` like a
pipeline's stage: a run that finds it finished with the same key does not redo it, and
``resume`` continues either phase from its ``checkpoint_every`` checkpoints.

**GRPO** (the rest of the budget: each limit less what the warm-start spent; ``run_grpo``):
the task's rewards (``rewards``, default ``correct``) score the answer alone (cut at
``<evaluation>``), and ``self_prediction`` (weight ``self_weight``) scores the block:
``1 - |pred - true| / max(pred, true)`` per component (1 when both are 0), averaged;
a missing or malformed block scores 0.

**Inference stops at the end of the answer**: the checkpoint's generation config saves
``stop_strings: ["<evaluation>"]`` (``generation_config.json``; plain transformers honours
it with ``generate(..., tokenizer=tok)``), and the one generator (``HFResponder``) adds it
to every call, so ``run.json``'s ``after``, every probe and ``sparring rerank`` see the
answer alone. ``self_eval_reading.read_self_eval`` reads past it (``saved_stops=False``) to compare the
self-predicted accuracy with the verifier's on held-out problems: run.json's
``self_eval_after`` and ``sparring self-eval RUN``.
"""

from __future__ import annotations

import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .budget import Budget
from .config import opt
from .grpo import GRPOOptions, config_rewards, run_grpo
from .registry import register_method

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from sparring.runcard import RunCard
    from sparring.tasks import Task

_WARMUP_SHARED = (
    "seed",
    "device",
    "show_progress",
    "logging_steps",
    "style",
    "lora",
    "system_prompt",
    "checkpoint_every",
)
_WARMUP_SHARED += ("enable_thinking", "report_to")
WARMUP_DEFAULTS = {"learning_rate": 1e-3, "batch_size": 32, "warmup_steps": 2}


@dataclass
class SelfEvalOptions(GRPOOptions):
    self_weight: float = opt(
        1.0, "Weight of the self_prediction reward beside the task rewards (scored on the answer)."
    )
    warmup_share: float = opt(0.2, "Share of every budget limit the SFT warm-start may spend (the rest is GRPO's).")
    warmup_recipe: str = opt("imitation", "Corpus recipe whose rows the warm-start labels (char or chat style).")
    warmup_wrong_share: float = opt(
        0.5,
        "Share of warm-start rows given a wrong answer before labelling (char: a planted flaw, "
        "task.flaw; chat: the gold reasoning with a plausible wrong answer in the tag), so both labels occur.",
    )
    warmup_n: int = opt(2000, "Warm-start rows.")
    warmup: dict = opt({}, "SFT options for the warm-start (defaults: learning_rate 1e-3, batch_size 32).")
    max_completion_length: int | None = opt(
        None, "Rollout limit in tokens, answer and block (None: 128 in char style, 320 in chat style)."
    )
    replay_successes: bool = opt(
        False,
        "Success replay (see grpo); off: a rollout's total mixes the answer's reward and the "
        "self-prediction's (a wrong answer predicted wrong totals 1, as a right one predicted badly), "
        "so no threshold marks the right answers.",
    )
    method_name = "self-eval"

    def rollout_tokens(self) -> int:
        from sparring.models.style import CHAT_ROLLOUT_TOKENS

        if self.max_completion_length is not None:
            return self.max_completion_length
        return CHAT_ROLLOUT_TOKENS + 64 if self.style == "chat" else 128

    def validate(self) -> None:
        super().validate()
        self.check_float("self_weight", lo=0.0, lo_open=True)
        self.check_float("warmup_share", lo=0.0, lo_open=True)
        if self.warmup_share >= 1.0:
            raise self._err("warmup_share", "must be below 1 (GRPO needs the rest)")
        if not isinstance(self.warmup_recipe, str) or not self.warmup_recipe:
            raise self._err("warmup_recipe", "must be a recipe name")
        self.check_int("warmup_n", lo=1)
        self.check_float("warmup_wrong_share", lo=0.0, hi=1.0)
        self.check_dict("warmup")
        try:
            self.warmup_config()
        except ValueError as err:
            raise ValueError(f"{self.method_name}.warmup: {err}") from None

    def check_resolved(self, task) -> None:
        if self.warmup_wrong_share > 0:
            need = "flaws" if self.style == "char" else "wrong_answers"
            task.require(need, by=f"{self.method_name} (warmup_wrong_share > 0 in {self.style} style)")

    def warmup_config(self, recipe: str = "imitation"):
        """The warm-start's SFT options: this config's shared options, then ``warmup``."""
        from .sft import SFTOptions

        shared = {k: getattr(self, k) for k in _WARMUP_SHARED}
        fixed = {"recipe": recipe, "eval_problems": 0}  # its answers run on into blocks: no evaluation
        return SFTOptions.from_any({**WARMUP_DEFAULTS, **shared, **self.warmup, **fixed})


def warmup_budget(budget: Budget, share: float) -> Budget:
    """``share`` of every limit of ``budget`` (counts at least 1)."""

    def part(n: int | None) -> int | None:
        return None if n is None else max(1, math.floor(n * share))

    return Budget(
        steps=part(budget.steps),
        tokens=part(budget.tokens),
        seconds=None if budget.seconds is None else budget.seconds * share,
        flops=part(budget.flops),
    )


def rest_budget(budget: Budget, spent: dict) -> Budget:
    """``budget`` less what the warm-start ``spent`` (its run.json ``metrics.train``), each
    count at least 1 and the time at least one second."""

    def rest(n, used) -> Any:
        return None if n is None else max(1, n - int(used or 0))

    return Budget(
        steps=rest(budget.steps, spent.get("steps")),
        tokens=rest(budget.tokens, spent.get("tokens")),
        seconds=None if budget.seconds is None else max(1.0, budget.seconds - float(spent.get("seconds") or 0.0)),
        flops=rest(budget.flops, spent.get("flops")),
    )


def warmup_rows(task: Task, cfg: SelfEvalOptions, tokenizer) -> tuple[Any, dict]:
    """The warm-start dataset (string prompt / completion rows, see the module doc) and its card."""
    from datasets import Dataset

    from sparring.models.style import ChatFormat, render_chat
    from sparring.rewards import as_problem, completion_text
    from sparring.rewards.self_eval import SEPARATOR, evaluation_block

    from .data import recipe_dataset

    ds, card = recipe_dataset(
        cfg.warmup_recipe,
        task,
        cfg.warmup_n,
        cfg.seed,
        columns=("prompt", "completion", "problem"),
        what=f"{cfg.method_name}.warmup_recipe",
        style=cfg.style,
    )
    fmt = cfg.chat_format() if cfg.style == "chat" else ChatFormat()
    rng = random.Random(f"self-eval-warmup-{cfg.seed}")
    prompts, completions, correct = [], [], 0
    for prompt, completion, problem in zip(ds["prompt"], ds["completion"], ds["problem"]):
        answer = completion_text(completion)
        p = as_problem(problem)
        if rng.random() < cfg.warmup_wrong_share:
            answer = wrong_version(task, p, answer, cfg.style, rng.randrange(1 << 30))
        verdict = task.verify(p, answer)
        correct += bool(verdict.correct)
        if isinstance(prompt, list):  # chat: rendered up to the end of the answer, inside the assistant turn
            messages = fmt.apply(prompt)
            head = render_chat(tokenizer, messages, fmt, generation_prompt=True)
            whole = render_chat(tokenizer, [*messages, {"role": "assistant", "content": answer}], fmt, False)
            at = whole.find(answer, len(head))
            if not whole.startswith(head) or at < 0:
                raise ValueError(f"{cfg.method_name}: the chat template does not write the answer after the prompt")
            prompt = whole[: at + len(answer)]
        else:
            prompt = prompt + answer
        prompts.append(prompt)
        completions.append(SEPARATOR + evaluation_block(verdict))
    rows = Dataset.from_dict({"prompt": prompts, "completion": completions})
    return rows, {**card, "labelled_correct": correct, "rows": len(rows)}


def wrong_version(task: Task, problem, answer: str, style: str, seed: int) -> str:
    """``answer`` made wrong: char, a planted flaw of the problem's gold; chat, the
    answer's tag content replaced by a plausible wrong answer. Unchanged where the task
    cannot (an unsolvable problem without flaws)."""
    from sparring.tasks.continuation import CLOSE, OPEN

    try:
        if style != "chat":
            return task.flaw(problem, seed=seed).text
        at = answer.rfind(OPEN)
        return answer if at < 0 else f"{answer[:at]}{OPEN}{task.plausible_wrong_answer(problem, seed)}{CLOSE}"
    except ValueError:
        return answer


def run_warmup(base: str, task: Task, cfg: SelfEvalOptions, budget: Budget, stage: Path) -> tuple[RunCard, dict]:
    """The warm-start SFT into ``stage`` (skipped when ``stage`` holds a finished warm-start
    with the same key: the base's content, the rows, the SFT options and budget, as a
    pipeline's stage), and the rows' card."""
    import json

    from sparring.atomic import write_text_atomic
    from sparring.corpus import fingerprint
    from sparring.models.fingerprint import model_fingerprint
    from sparring.models.loading import load_tokenizer
    from sparring.runcard import RunCard

    from .distributed import barrier, is_main
    from .pipeline import _NOT_KEYED, STAGE_MARK, _finished, _key
    from .sft import sft

    rows, data = warmup_rows(task, cfg, load_tokenizer(base))
    rows_dir = stage.parent / "00-warmup-rows"  # one folder every rank reads
    sft_cfg = cfg.warmup_config(str(rows_dir))
    keyed = {k: v for k, v in sft_cfg.to_dict().items() if k not in (*_NOT_KEYED, "recipe")}
    key = _key(["self-eval-warmup", keyed, budget.to_dict(), task.name, task.config_dict(), model_fingerprint(base)])
    key = _key([key, fingerprint(rows, ("prompt", "completion"))])
    if _finished(stage, key):
        return RunCard.read(stage), data
    if is_main():
        shutil.rmtree(rows_dir, ignore_errors=True)
        rows.save_to_disk(str(rows_dir))
    barrier()
    try:
        warm = sft(base, task, sft_cfg, stage, budget)
    finally:
        barrier()
        if is_main():
            shutil.rmtree(rows_dir, ignore_errors=True)
    if is_main():
        write_text_atomic(stage / STAGE_MARK, json.dumps({"stage_key": key, "method": "sft"}) + "\n")
    return warm, data


@register_method("self-eval", SelfEvalOptions, resumable=True)
def self_eval(base: str, task: Task, cfg: SelfEvalOptions, out: Path, budget: Budget) -> RunCard:
    """Post-completion self-evaluation: SFT warm-start on verifier-labelled blocks, then GRPO
    with the self-prediction reward; inference stops at the end of the answer."""
    from sparring.rewards import get_reward
    from sparring.rewards.self_eval import STOP, answer_only

    from .common import evaluate, spent_total
    from .distributed import is_main
    from .self_eval_reading import read_self_eval, self_eval_metrics

    before = None
    if cfg.eval_problems > 0 and cfg.eval_before and is_main():  # the base, as every method's ``before``
        from sparring.models import device_defaults, load_model

        before = evaluate(*load_model(base, device=device_defaults(cfg.device).device), task, cfg, "before")
    stage = out.parent / f"{out.name}.stages" / "01-warmup"
    warm, warm_data = run_warmup(base, task, cfg, warmup_budget(budget, cfg.warmup_share), stage)
    warm_spent = warm.metrics.get("train") or {}

    def stop_at_answer(model, tok):  # after training: the checkpoint's answer ends at STOP
        def restore(m) -> None:
            m.generation_config.stop_strings = [STOP]

        return restore

    def finish(model, tok, metrics: dict) -> dict:
        out_m = dict(metrics)
        out_m["train"] = {**spent_total([warm_spent, metrics["train"]]), "stages": [warm_spent, metrics["train"]]}
        out_m["before"] = before
        out_m["warmup"] = {"dir": str(stage), "data": warm_data, "budget": warm.budget}
        if cfg.eval_problems > 0:
            out_m["self_eval_after"] = self_eval_metrics(
                read_self_eval(model, tok, task, min(cfg.eval_problems, 200), cfg=cfg), seed=cfg.seed
            )
        return out_m

    rewards = [(answer_only(fn), w) for fn, w in config_rewards(cfg)]
    rewards.append((get_reward("self_prediction"), cfg.self_weight))
    return run_grpo(
        "self-eval",
        str(stage),
        task,
        cfg,
        out,
        rest_budget(budget, warm_spent),
        rewards=rewards,
        prepare_model=stop_at_answer,
        finish=finish,
        evaluate_before=False,  # the warm-started model's answers run on into blocks; ``before`` is the base's
    )
