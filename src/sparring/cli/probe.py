"""``sparring probe CHECKPOINT``: run the probe battery and print a table (+ JSON).

Every input error (unknown probe, ``--n`` <= 0, bad ``--task-set``, a checkpoint that is
not a model) is reported as one line and exits with code 2 before any model work.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from sparring.atomic import write_text_atomic
from sparring.tasks import get_task

from .common import OLD_TASK_SET, STYLE_HELP, SYSTEM_PROMPT, TASK_SET, _fail, console, task_settings


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if abs(v) < 1000 else f"{v:.3g}"


def results_table(results: dict, title: str) -> Table:
    table = Table(title=title)
    for col, kw in (
        ("probe", {}),
        ("metric", {}),
        ("value", {"justify": "right"}),
        ("95% CI", {"justify": "right"}),
        ("n", {"justify": "right"}),
    ):
        table.add_column(col, **kw)
    for name, r in results.items():
        first = True
        for metric, value in r.metrics.items():
            ci = r.ci.get(metric)
            style = "bold" if metric == r.primary else None
            table.add_row(
                name if first else "",
                escape(metric),
                _fmt(value),
                escape(f"[{_fmt(ci[0])}, {_fmt(ci[1])}]") if ci else "",
                str(r.n) if first else "",
                style=style,
            )
            first = False
        table.add_section()
    return table


def write_json(path: Path, payload: dict) -> None:

    write_text_atomic(path, json.dumps(payload, indent=1, default=str))


def probe_cmd(
    checkpoint: str = typer.Argument(
        ..., help="A preset (test, tiny, small), zoo:NAME, or a local Hugging Face causal-LM directory."
    ),
    task: str = typer.Option("countdown", "--task", help="Task name (see `sparring tasks`)."),
    probes: str = typer.Option("all", "--probes", help="Comma-separated probe names, or 'all'."),
    n: int = typer.Option(500, "--n", help="Problems per probe (per level / template)."),
    seed: int = typer.Option(0, "--seed", help="Problem, sampling and bootstrap seed."),
    split: str = typer.Option(
        "test", "--split", help="Held-out partition: test (reports) or validation (choosing a design)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Write all results (with per-item records) as JSON."),
    task_set: Optional[list[str]] = TASK_SET,
    old_set: Optional[list[str]] = OLD_TASK_SET,
    max_new_tokens: Optional[int] = typer.Option(
        None, "--max-new-tokens", help="Fixed generation cap (default: from the gold)."
    ),
    traces: bool = typer.Option(False, "--traces", help="The model writes search traces (longer caps)."),
    style: str = typer.Option("auto", "--style", help=STYLE_HELP),
    system_prompt: Optional[str] = SYSTEM_PROMPT,
    chat: bool = typer.Option(False, "--chat", hidden=True, help="Deprecated: use --style chat."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:N, mps (default: auto)."),
) -> None:
    """Run the probe battery on CHECKPOINT and print every metric with its 95% CI."""
    from sparring.probes import as_config, load_for_probes, probe_names, run_probes

    try:
        the_task = get_task(task, **task_settings(task_set, old_set, "probe"))
        names = probe_names(probes, the_task)
        if chat:
            typer.echo("warning: --chat is deprecated; use --style chat", err=True)
            style = "chat" if style == "auto" else style
        cfg = as_config(
            None,
            n=n,
            seed=seed,
            max_new_tokens=max_new_tokens,
            traces=traces,
            style=style,
            system_prompt=system_prompt,
            split=split,
        )
        with console.status(f"loading {checkpoint}"):
            model, tok = load_for_probes(checkpoint, device=device)
        from sparring.probes.common import setup

        _, cfg = setup(model, tok, cfg, the_task)  # auto decided, a style the model cannot serve refused
    except ValueError as err:
        _fail(err)
    from sparring.models import configure_threads, device_defaults

    configure_threads(device_defaults(device))
    t0 = time.perf_counter()
    with console.status("probing") as status:
        try:
            results = run_probes(
                model, tok, the_task, names, config=cfg, progress=lambda name: status.update(f"probe {name} ...")
            )
        except ValueError as err:
            _fail(err)
    seconds = time.perf_counter() - t0
    title = f"{checkpoint} on {task} {cfg.split} ({cfg.style} style, n={n}, seed={seed}, {seconds:.0f} s)"
    console.print(results_table(results, escape(title)))
    if out is not None:
        import torch
        import transformers

        payload = {
            "checkpoint": str(checkpoint),
            "task": the_task.name,
            "task_config": the_task.config_dict(),
            "n": n,
            "seed": seed,
            "probe_config": cfg.to_dict(),
            "seconds": seconds,
            "versions": {
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            },
            "probes": {k: r.to_dict() for k, r in results.items()},
        }
        write_json(out, payload)
        console.print(f"wrote {escape(str(out))}")
