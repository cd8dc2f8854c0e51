"""Stage pipelines: methods in sequence, each stage's checkpoint the next one's base.

    train("pipeline", "zoo:countdown-base", "countdown",
          {"stages": [{"method": "sft", "config": {...}}, {"method": "grpo"}]},
          out_dir="runs/sft-grpo", budget="300s")

Stages live next to the output, in ``<out_dir>.stages/NN-method/``; each is an ordinary
checkpoint. A stage whose checkpoint exists with the same *stage key* (hash of its method,
resolved config, budget, task and the key of what it starts from: for the first stage the
base's content fingerprint, ``sparring.models.fingerprint``) is not re-run, so an
interrupted pipeline resumes, and changing stage 2 re-runs stage 2 onwards only. With
``checkpoint_every`` (shared by every stage) each stage writes resumable checkpoints, and
``train(..., resume=True)`` also continues the stage that was in flight from its last one
(``NN-method.resume/``, ``resume.py``); ``checkpoint_every`` and ``show_progress`` are not
part of a stage key. A stage
without its own ``budget`` gets an equal share of the pipeline's budget (counts split
exactly, the remainder to the first stages), so a two-stage pipeline at "300s" or
"7steps" spends as much as a single method at that budget. The final checkpoint
(``out_dir``) is a copy of the last stage with a run.json covering all stages; its
``metrics.train`` sums the stages' steps, tokens, seconds and FLOPs (each stage's own
numbers under ``stages``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.atomic import write_text_atomic
from sparring.runcard import RUN_CARD, RunCard

from .budget import Budget
from .config import MethodConfig, opt
from .registry import get_method, register_method

if TYPE_CHECKING:  # annotations only: importing these here would load models early
    from sparring.tasks import Task


PRESETS: dict[str, list[str]] = {
    "sft-grpo": ["sft", "grpo"],
    "cft-grpo": ["cft", "grpo"],
    "srl-grpo": ["srl", "grpo"],
}
STAGE_MARK = "stage.json"
_SHARED = (
    "seed",
    "device",
    "eval_problems",
    "eval_max_new_tokens",
    "show_progress",
    "logging_steps",
    "checkpoint_every",
    "style",
    "lora",
    "system_prompt",
    "enable_thinking",
)
_NOT_KEYED = ("checkpoint_every", "show_progress")  # do not change what a stage computes


@dataclass
class PipelineOptions(MethodConfig):
    stages: list = opt([], "Stages: [{method, config?, budget?}, ...]; empty: use preset.")
    preset: str = opt("sft-grpo", "Stage sequence when stages is empty: " + ", ".join(PRESETS) + ".")
    method_name = "pipeline"

    def validate(self) -> None:
        super().validate()
        if not isinstance(self.stages, list):
            raise self._err("stages", "must be a list of {method, config, budget} mappings")
        if not self.stages:
            self.check_choice("preset", PRESETS)
        for i, st in enumerate(self.stages):
            if not isinstance(st, dict) or "method" not in st:
                raise ValueError(f"pipeline.stages[{i}]: must be a mapping with a 'method'")
            unknown = sorted(set(st) - {"method", "config", "budget"})
            if unknown:
                raise ValueError(f"pipeline.stages[{i}]: unknown key(s) {unknown}; allowed: method, config, budget")
            if st["method"] == "pipeline":
                raise ValueError(f"pipeline.stages[{i}]: a pipeline cannot be a stage")
        self.stage_plans()  # every stage's options, parsed here, so a bad one fails before any work

    def stage_plans(self) -> list[tuple[Any, MethodConfig, Budget | None]]:
        """(method, resolved config = shared options + the stage's own, budget or None for an
        equal share) per stage; an error names the stage."""
        shared = {k: getattr(self, k) for k in _SHARED}
        plans = []
        for i, st in enumerate(self.stage_list()):
            try:
                m = get_method(st["method"])
                raw = st.get("config") or {}
                if not isinstance(raw, dict):
                    raise ValueError("config must be a mapping")
                b = Budget.parse(st["budget"]) if st.get("budget") is not None else None
                plans.append((m, m.config_cls.from_any({**shared, **raw}), b))
            except ValueError as err:
                raise ValueError(f"pipeline.stages[{i}]: {err}") from None
        return plans

    def check_task(self, task: Any) -> None:
        for i, (_, cfg, _) in enumerate(self.stage_plans()):
            try:
                cfg.check_task(task)
            except ValueError as err:
                raise ValueError(f"pipeline.stages[{i}]: {err}") from None

    def check_resolved(self, task: Any) -> None:
        for i, (_, cfg, _) in enumerate(self.stage_plans()):
            try:
                cfg.check_resolved(task)
            except ValueError as err:
                raise ValueError(f"pipeline.stages[{i}]: {err}") from None

    def stage_list(self) -> list[dict]:
        return [dict(s) for s in self.stages] or [{"method": m} for m in PRESETS[self.preset]]


def _share(budget: Budget, k: int, i: int) -> Budget:
    """Stage ``i``'s (0-based) equal share of ``budget``, one of ``k`` stages: counts (steps,
    tokens, FLOPs) are split exactly, the remainder going to the first stages (``7steps``
    over two stages: 4 + 3), so the shares add up to the budget; seconds are split evenly."""

    def part(n: int | None) -> int | None:
        return None if n is None else max(1, n // k + (1 if i < n % k else 0))

    return Budget(
        steps=part(budget.steps),
        tokens=part(budget.tokens),
        seconds=None if budget.seconds is None else budget.seconds / k,
        flops=part(budget.flops),
    )


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _adapter_base(stage_dir: Path) -> dict:
    """``{"lora_base": ...}`` when the last stage wrote a LoRA adapter (the copy is one too)."""
    from sparring.models.adapters import adapter_base, is_adapter_dir

    return {"lora_base": adapter_base(stage_dir)} if is_adapter_dir(stage_dir) else {}


def _finished(stage_dir: Path, key: str) -> bool:
    mark = stage_dir / STAGE_MARK
    if not (stage_dir / RUN_CARD).is_file() or not mark.is_file():
        return False
    try:
        return json.loads(mark.read_text()).get("stage_key") == key
    except (OSError, json.JSONDecodeError):
        return False


@register_method("pipeline", PipelineOptions, resumable=True)
def pipeline(base: str, t: Task, cfg: PipelineOptions, out: Path, budget: Budget) -> RunCard:
    """Stages in sequence (sft->grpo, cft->grpo, srl->grpo, or any list); finished stages are skipped."""
    from sparring.models import atomic_dir
    from sparring.models.fingerprint import model_fingerprint

    from .common import as_card, run_card, spent_total, written_once
    from .distributed import is_main

    plans = cfg.stage_plans()  # every stage resolved before any runs
    plans = [(m, c, _share(budget, len(plans), i) if b is None else b) for i, (m, c, b) in enumerate(plans)]
    root = out.parent / f"{out.name}.stages"
    prev_key = _key({"base": model_fingerprint(base)})  # the base's content, not its name
    current: Any = base
    records = []
    for i, (m, stage_cfg, b) in enumerate(plans, start=1):
        keyed = {k: v for k, v in stage_cfg.to_dict().items() if k not in _NOT_KEYED}
        key = _key([m.name, keyed, b.to_dict(), t.name, t.config_dict(), prev_key])
        stage_dir = root / f"{i:02d}-{m.name}"
        skipped = _finished(stage_dir, key)
        if skipped:
            card = RunCard.read(stage_dir)
        else:
            card = as_card(m.run(current, t, stage_cfg, stage_dir, b))
            if is_main():  # several ranks: rank 0 writes
                write_text_atomic(stage_dir / STAGE_MARK, json.dumps({"stage_key": key, "method": m.name}) + "\n")
        records.append(
            {
                "stage": i,
                "method": m.name,
                "dir": str(stage_dir),
                "skipped": skipped,
                "stage_key": key,
                "budget": b.to_dict(),
                "data": card.data,
                "metrics": card.metrics,
            }
        )
        prev_key, current = key, str(stage_dir)
    last = Path(current)
    first_metrics, last_metrics = records[0]["metrics"], records[-1]["metrics"]
    summary = run_card(
        "pipeline",
        cfg.to_dict(),
        budget,
        base,
        t,
        data={
            "stages": [r["data"] for r in records],
            "hash": "+".join(str(r["data"].get("hash", "")) for r in records),
        },
        metrics={
            "before": first_metrics.get("before"),
            "after": last_metrics.get("after"),
            "train": {
                **spent_total([r["metrics"].get("train") for r in records]),
                "stages": [r["metrics"].get("train") for r in records],
            },
        },
        extra={"stages": records, **_adapter_base(last)},
    )

    def write() -> RunCard:
        with atomic_dir(out) as tmp:
            for f in last.iterdir():
                if f.is_file() and f.name not in (RUN_CARD, STAGE_MARK):
                    shutil.copy2(f, tmp / f.name)
            (tmp / RUN_CARD).write_text(summary.to_json())
        summary.path = out
        return summary

    return written_once(write, out)  # several ranks: rank 0 writes
