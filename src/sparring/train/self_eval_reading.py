"""Reading a self-eval checkpoint's self-predictions on held-out problems (METHODS.md 1.11):
the greedy completion read past the saved stop string, the block's predicted
``[acc, fmt]`` beside the verifier's labels of the answer, and the correlation of
predicted with true accuracy with its bootstrap interval (``stats.py``). run.json's
``self_eval_after`` and ``sparring self-eval`` are these numbers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .registry import get_method

if TYPE_CHECKING:
    from sparring.tasks import Task


def read_self_eval(
    model,
    tokenizer,
    task: Task,
    n: int,
    *,
    cfg: Any = None,
    seed: int = 0,
    style: str | None = None,
    max_new_tokens: int | None = None,
) -> list[dict]:
    """Per held-out test problem (``n`` of them): the greedy completion read past the saved
    stop, the self-predicted ``(acc, fmt)`` (None: no or a malformed block) and the
    verifier's labels of the answer. ``cfg``: the run's options (style, chat format, rollout
    limit); else ``style`` (char or chat) and ``max_new_tokens`` (None: 128 char, 384 chat)."""
    from sparring.evaluation import answers
    from sparring.models import HFResponder
    from sparring.rewards.self_eval import parse_self_reward, split_evaluation, true_labels

    style = cfg.style if cfg is not None else (style or "char")
    fmt = cfg.chat_format() if cfg is not None else None
    if max_new_tokens is None:
        max_new_tokens = cfg.rollout_tokens() if cfg is not None else (384 if style == "chat" else 128)
    responder = HFResponder(model, tokenizer, cache=False, saved_stops=False, chat_format=fmt)
    problems = task.problems("test", n=n, seed=seed)
    texts = answers(
        responder, task, problems, max_new_tokens=max_new_tokens, style=style, chat_format=fmt, label="self-eval"
    )
    records = []
    for p, (text,) in zip(problems, texts):
        answer, block = split_evaluation(text)
        pred = parse_self_reward(block)
        acc, fmt_ok = true_labels(task.verify(p, answer))
        records.append(
            {
                "id": p.id,
                "pred_acc": None if pred is None else pred[0],
                "pred_fmt": None if pred is None else pred[1],
                "true_acc": acc,
                "true_fmt": fmt_ok,
            }
        )
    return records


def self_eval_checkpoint(
    checkpoint, task: Task, n: int = 200, *, seed: int = 0, style: str | None = None, device: str | None = None
) -> dict[str, Any]:
    """:func:`self_eval_metrics` of a checkpoint on ``n`` held-out problems (``sparring
    self-eval``), in the style it was trained in unless ``style`` is given; the records too."""
    from dataclasses import fields

    from sparring.models import RUN_CARD, RunCard, load_for_inference
    from sparring.models.style import resolve_style

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: must be a positive integer, got {n!r}")
    model, tok = load_for_inference(checkpoint, device)
    path = Path(str(checkpoint)).expanduser()
    card = RunCard.read(path) if (path / RUN_CARD).is_file() else None
    run = card.config if card is not None else {}
    chosen = resolve_style(style or run.get("style", "auto"), tok)
    cfg = None
    if card is not None and card.method == "self-eval":  # its chat format and rollout limit
        options = get_method("self-eval").config_cls
        names = {f.name for f in fields(options)}
        cfg = replace(options.from_any({k: v for k, v in run.items() if k in names}), style=chosen)
    records = read_self_eval(model, tok, task, n, cfg=cfg, seed=seed, style=chosen)
    metrics = self_eval_metrics(records, seed=seed)
    return {"checkpoint": str(checkpoint), "task": task.name, "style": chosen, **metrics, "records": records}


def self_eval_metrics(records: list[dict], seed: int = 0, n_resamples: int = 1000) -> dict[str, Any]:
    """Self-predicted vs true accuracy over the records of :func:`read_self_eval`:
    ``parsed`` (share with a well-formed block), ``pred_acc`` / ``true_acc`` (means; the
    prediction over parsed rows), ``correlation`` (Pearson, predicted vs true accuracy over
    parsed rows; None when either is constant) with its bootstrap interval over problems
    (``stats.bootstrap_ci``), ``brier`` (mean squared error of the prediction) and
    ``self_reward`` (the mean self-prediction reward, 0 for unparsed rows)."""
    from sparring.rewards.self_eval import self_prediction_score
    from sparring.stats import bootstrap_ci, correlation_stat, pearson

    parsed = [r for r in records if r["pred_acc"] is not None]
    pred = [r["pred_acc"] for r in parsed]
    true = [r["true_acc"] for r in parsed]
    scores = [
        self_prediction_score(
            None if r["pred_acc"] is None else (r["pred_acc"], r["pred_fmt"]), (r["true_acc"], r["true_fmt"])
        )
        for r in records
    ]
    n = len(records)
    return {
        "n": n,
        "parsed": len(parsed) / n if n else None,
        "pred_acc": sum(pred) / len(pred) if pred else None,
        "true_acc": sum(r["true_acc"] for r in records) / n if n else None,
        "correlation": pearson(pred, true),
        "correlation_ci": bootstrap_ci(
            (pred, true), correlation_stat, n_resamples=n_resamples, seed=seed, name="self-eval"
        )
        if len(parsed) >= 2
        else None,
        "brier": sum((a - b) ** 2 for a, b in zip(pred, true)) / len(pred) if pred else None,
        "self_reward": sum(scores) / n if n else None,
    }
