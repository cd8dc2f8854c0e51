"""Pretraining a base model from scratch: the shipped ``zoo:`` checkpoints.

    sparring pretrain --task countdown --out src/sparring/zoo/countdown-base

trains a fresh ``tiny`` preset (initialisation seed 0) on the ``pretrain`` recipe
(mixed-quality unlabeled solutions + solved search traces, no critiques) with the SFT
trainer, then writes next to the usual ``run.json`` a ``card.json``: the exact command
that rebuilds it, the data hash, and its metrics (greedy accuracy on 500 held-out problems,
pass@k at temperature 1). The aim is a base with latent but unreliable skill: greedy
accuracy well below pass@k, so post-training methods have room to move.

With a chat preset (``--style chat --preset chat-small``, ``presets.CHAT_PRESETS``) the same
recipe is written in the chat style (``recipe_options.style: chat``: the task's chat prompts
as user messages, each document's work and answer as the assistant's reply), a byte-level
BPE tokenizer with a chat template is trained by ``tokenizers`` on those rows' text (train
problems only: the recipe draws nothing else) and saved with the model, which is then
initialised (seed 0) for it: ``zoo:countdown-chat`` (docs/real-models.md).
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.runcard import ZOO_CARD, RunCard

from .budget import Budget
from .config import opt
from .registry import register_method
from .sft import EXTRA_EVALS, SFTOptions, _run

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from sparring.tasks import Task


DEFAULT_BUDGET = "3000steps"


@dataclass
class PretrainOptions(SFTOptions):
    preset: str = opt(
        "tiny",
        "Model preset to initialise (seed 0) and train from scratch: test, tiny, small (char style) "
        "or chat-test, chat-small (chat style: a BPE tokenizer trained on the corpus).",
    )
    recipe: str = opt("pretrain", "Corpus recipe: the base model's diet.")
    recipe_options: dict = opt(
        {"error_rate": 0.4, "search_fraction": 0.1},
        "Recipe options: share of flawed solutions, share of search traces.",
    )
    n: int = opt(100000, "Rows to build (problems repeat: 3-number Countdown has ~13k train problems).")
    learning_rate: float = opt(3e-3, "Peak AdamW learning rate.")
    max_length: int = opt(
        512,
        "Longest row kept, in tokens (longer search traces are dropped: "
        "attention cost grows with the square of the length).",
    )
    drop_long: bool = opt(True, "Drop rows longer than max_length instead of truncating them.")
    batch_size: int = opt(128, "Sequences per optimizer step.")
    warmup_steps: int = opt(30, "Linear warm-up steps; then cosine decay over the budget.")
    eval_before: bool = opt(False, "Evaluate the random initialisation too (slow, always 0).")
    pass_k: int = opt(8, "k for the pass@k in the card.")
    pass_temperatures: list = opt([1.0, 0.5], "Sampling temperatures for the card's pass@k.")
    pass_problems: int = opt(200, "Held-out problems for pass@k (0: skip).")
    method_name = "pretrain"

    def validate(self) -> None:
        super().validate()
        from sparring.models.presets import PRESETS, is_chat_preset

        self.check_choice("preset", tuple(PRESETS))
        if self.style == "chat" and not is_chat_preset(self.preset):
            raise self._err(
                "style",
                f"chat needs a chat preset (a BPE tokenizer with a chat template: {', '.join(_chat_presets())}); "
                f"{self.preset!r} has the char tokenizer",
            )
        if self.style == "char" and is_chat_preset(self.preset):
            raise self._err(
                "style", f"{self.preset!r} is a chat preset (a BPE tokenizer with a chat template): use chat or auto"
            )
        self.check_int("pass_k", lo=1)
        if not isinstance(self.pass_temperatures, list) or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in self.pass_temperatures
        ):
            raise self._err("pass_temperatures", "must be a list of positive numbers")
        self.check_int("pass_problems", lo=0)


def _chat_presets() -> tuple[str, ...]:
    from sparring.models.presets import CHAT_PRESETS

    return CHAT_PRESETS


def corpus_texts(rows) -> list[str]:
    """Every message text of conversational rows (what the chat preset's BPE tokenizer is
    trained on: the chat template's own markers are special tokens), plus the role names."""
    out = ["system", "user", "assistant"]
    for col in ("prompt", "completion"):
        out.extend(m["content"] for msgs in rows[col] for m in msgs)
    return out


def fresh_chat_model(preset: str):
    """``init(rows)`` for ``sft._run``: a BPE tokenizer trained on the rows' text, and
    ``preset`` initialised (seed 0) for it."""
    from sparring.models.presets import make_model, preset_tokenizer

    def init(rows):
        return make_model(preset, seed=0, tokenizer=preset_tokenizer(preset, corpus_texts(rows)))

    return init


def _pass_at_k(model, tok, task, cfg, when: str) -> dict:
    """pass@k on held-out problems at each of ``cfg.pass_temperatures`` (seeded)."""
    if when != "after" or cfg.pass_problems <= 0:
        return {}
    from .evaluate import accuracy

    problems = task.problems("test", n=cfg.pass_problems, seed=0)
    out = {}
    for temp in cfg.pass_temperatures:
        t0 = time.perf_counter()
        r = accuracy(
            model,
            tok,
            task,
            problems,
            max_new_tokens=cfg.eval_tokens(),
            samples=cfg.pass_k,
            temperature=float(temp),
            seed=0,
        )
        r["seconds"] = round(time.perf_counter() - t0, 2)
        out[f"sampled_t{float(temp):g}"] = r
    return out


EXTRA_EVALS["pretrain"] = _pass_at_k


def rebuild_command(
    task_name: str, out: Path, cfg: PretrainOptions, budget: Budget, task_settings: dict | None = None
) -> str:
    """The ``sparring pretrain`` command line that reproduces this checkpoint (a char
    preset's resolved style, char, is not repeated; chat is)."""
    parts = ["sparring", "pretrain", "--task", task_name, "--budget", budget.text()]
    if cfg.style == "chat":
        parts += ["--style", "chat"]
    for k, v in (task_settings or {}).items():
        parts += ["--task-set", f"{k}={json.dumps(v)}"]
    default = PretrainOptions()
    for f in fields(cfg):
        if getattr(cfg, f.name) != getattr(default, f.name) and f.name not in (
            "show_progress",
            "checkpoint_every",
            "style",
        ):
            parts += ["--set", f"{f.name}={json.dumps(getattr(cfg, f.name), separators=(',', ':'))}"]
    parts += ["--out", str(out)]
    return " ".join(shlex.quote(p) for p in parts)


def card_data_hash(card: dict) -> str:
    """Rebuild the pretraining data a zoo ``card.json`` describes (its task config, recipe,
    n, seed and options) and return its hash, to compare with ``card["data"]["hash"]``."""
    from sparring import corpus

    from .common import resolve_task

    task = resolve_task(card["task"])
    d = card["data"]
    return corpus.fingerprint(corpus.build(d["recipe"], task, d["n"], d["seed"], **d["options"]))


@register_method("pretrain", PretrainOptions, resumable=True)
def pretrain_method(base: str, task: Task, cfg: PretrainOptions, out: Path, budget: Budget) -> RunCard:
    """Train a preset from scratch on the pretrain recipe (``base`` must be that preset)."""
    if base != cfg.preset:
        raise ValueError(
            f"pretrain: base {base!r} is not the preset it trains from scratch "
            f"({cfg.preset!r}); set the preset option, or pass base={cfg.preset!r}"
        )
    return _pretrain(task, out, cfg, budget, out)


def pretrain(
    task: Any,
    out_dir: Any,
    config: Any = None,
    budget: Any = DEFAULT_BUDGET,
    task_settings: dict | None = None,
    *,
    resume: bool = False,
) -> RunCard:
    """Train ``config.preset`` from scratch; write the checkpoint + ``card.json``
    (``resume``: continue from the last ``checkpoint_every`` checkpoint, docs/resume.md)."""
    from .common import check_out_dir, resolve_task, with_style
    from .resume import resume_requested

    cfg = PretrainOptions.from_any(config)
    t, out, b = resolve_task(task), check_out_dir(out_dir), Budget.parse(budget)
    cfg = with_style(cfg, cfg.preset, t)  # a char preset: char; a chat preset: chat
    with resume_requested(resume):
        return _pretrain(t, out, cfg, b, Path(out_dir), task_settings)


def _pretrain(
    t: Task, out: Path, cfg: PretrainOptions, b: Budget, out_dir: Path, task_settings: dict | None = None
) -> RunCard:
    from sparring.models import atomic_dir
    from sparring.models.presets import is_chat_preset

    init = fresh_chat_model(cfg.preset) if is_chat_preset(cfg.preset) else None
    run = _run("pretrain", cfg.preset, t, cfg, out, b, init=init)
    path = run.path
    card = {
        "name": out.name,
        "task": run.task,
        "preset": cfg.preset,
        **({"style": "chat", "mix": run.data.get("options", {}).get("mix", "v1")} if cfg.style == "chat" else {}),
        "command": rebuild_command(t.name, Path(out_dir), cfg, b, task_settings),
        "data": run.data,
        "metrics": run.metrics,
        "budget": run.budget,
        "versions": run.versions,
        "created": run.created,
        "note": "Rebuilding on another machine gives the same data hash; weights match "
        "exactly only on the same hardware, thread count and library versions.",
    }
    with atomic_dir(out) as tmp:
        for f in path.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        (tmp / ZOO_CARD).write_text(json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    run.path = out
    return run
