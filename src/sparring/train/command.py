"""``sparring train METHOD`` and ``sparring pretrain``: typer commands for the CLI.

The lead registers them: ``app.command("train")(train_cmd)`` and
``app.command("pretrain")(pretrain_cmd)``. Every input error (unknown method or option,
bad value, missing base, bad budget) is one line on stderr and exit code 2; nothing is
written. Importing this module is light (no torch): TRL is imported when training starts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from sparring.settings import parse_settings

console = Console(stderr=True)


def _fmt(v) -> str:
    return json.dumps(v, separators=(",", ":")) if not isinstance(v, str) else (v or '""')


def methods_help() -> str:
    """Every registered method with its options and defaults (the ``--help`` text)."""
    from sparring.train import METHODS, MethodConfig

    shared = {name for name, _, _ in MethodConfig.options()}
    paras = ["Options every method takes: " + ", ".join(
        f"{k}={_fmt(v)}" for k, v, _ in MethodConfig.options()) + "."]
    for name in sorted(METHODS):
        m = METHODS[name]
        own = [f"{k}={_fmt(v)}" for k, v, _ in m.config_cls.options() if k not in shared]
        paras.append(f"[bold]{name}[/bold]: {m.doc} Options: {', '.join(own)}.")
    paras.append("`sparring train METHOD --options` explains each option.")
    return "\n\n".join(paras)


def options_table(method: str):
    from rich.table import Table

    from sparring.train import get_method

    m = get_method(method)
    table = Table(title=f"{method}: {m.doc}")
    for col in ("option", "default", "meaning"):
        table.add_column(col)
    for k, v, h in m.config_cls.options():
        table.add_row(k, _fmt(v), h)
    return table


def _fail(err: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)  # one line, whatever the width
    raise typer.Exit(code=2)


def _load_config(config: Optional[Path], settings: list[str] | None) -> dict:
    from .config import load_config_file

    data = load_config_file(config) if config is not None else {}
    data.update(parse_settings(settings))
    return data


def train_cmd(
    method: str = typer.Argument(..., help="Training method (listed below with its options)."),
    base: str = typer.Option("zoo:countdown-base", "--base",
                             help="Start from: a preset (tiny), zoo:NAME or a checkpoint directory."),
    task: str = typer.Option("countdown", "--task", help="Task name (see `sparring tasks`)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Checkpoint directory (written aside, then renamed)."),
    budget: str = typer.Option("300s", "--budget",
                               help="Training budget: '300s', '5min', '200steps', '2Mtokens' "
                                    "(several with commas: first reached stops)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file of method options."),
    settings: Optional[list[str]] = typer.Option(None, "--set", "-s",
                                                 help="Method option KEY=VALUE (repeatable; JSON values)."),
    task_settings: Optional[list[str]] = typer.Option(None, "--task-set",
                                                      help="Task config KEY=VALUE (repeatable)."),
    show_options: bool = typer.Option(False, "--options", help="List METHOD's options, defaults and meaning; "
                                                               "train nothing."),
) -> None:
    """Train a model with METHOD and write a checkpoint (save_pretrained dir + run.json)."""
    from sparring.tasks import get_task

    from . import Budget, get_method, train

    if show_options:
        try:
            Console().print(options_table(method))
        except ValueError as err:
            _fail(err)
        return
    try:
        m = get_method(method)
        if out is None:
            raise ValueError("--out: required (the checkpoint directory to write)")
        options = _load_config(config, settings)
        cfg = m.config_cls.from_any(options)
        b = Budget.parse(budget)
        t = get_task(task, **parse_settings(task_settings, "--task-set"))
        from .common import check_base

        if method != "pretrain":
            check_base(base)
    except ValueError as err:
        _fail(err)
    console.print(f"[bold]{method}[/] from {base} on {task}, budget {b} -> {out}")
    try:
        path = train(method, base, t, cfg, out, b)  # the public entry point, as from Python
    except ValueError as err:
        _fail(err)
    _report(path)


def _report(path: Path) -> None:
    card = json.loads((Path(path) / "run.json").read_text())
    metrics = card.get("metrics", {})
    before, after = metrics.get("before") or {}, metrics.get("after") or {}
    line = f"wrote {path}"
    if after:
        acc = f"{after.get('accuracy', 0):.1%}"
        if before:
            acc = f"{before.get('accuracy', 0):.1%} -> {acc}"
        line += f"; greedy accuracy on {after.get('n')} held-out problems: {acc}"
    console.print(line)


def pretrain_cmd(
    task: str = typer.Option("countdown", "--task", help="Task name (see `sparring tasks`)."),
    out: Path = typer.Option(..., "--out", help="Where the base checkpoint goes, e.g. "
                                                "src/sparring/zoo/countdown-base."),
    budget: str = typer.Option("3000steps", "--budget", help="Training budget ('3000steps', '600s', ...)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file of pretrain options."),
    settings: Optional[list[str]] = typer.Option(None, "--set", "-s",
                                                 help="Pretrain option KEY=VALUE (repeatable; JSON values)."),
    task_settings: Optional[list[str]] = typer.Option(None, "--task-set",
                                                      help="Task config KEY=VALUE (repeatable)."),
) -> None:
    """Train a tiny model from scratch on the pretrain recipe (mixed-quality solutions +
    search traces, no critiques); writes weights, tokenizer, run.json and card.json (the
    exact command that rebuilds it, data hash, greedy accuracy and pass@k)."""
    from sparring.tasks import get_task

    from . import Budget
    from .pretrain import PretrainOptions, pretrain

    try:
        cfg = PretrainOptions.from_any(_load_config(config, settings))
        b = Budget.parse(budget)
        ts = parse_settings(task_settings, "--task-set")
        t = get_task(task, **ts)
    except ValueError as err:
        _fail(err)
    console.print(f"[bold]pretrain[/] {cfg.preset} from scratch on {task}, budget {b} -> {out}")
    try:
        path = pretrain(t, out, cfg, b, task_settings=ts)
    except ValueError as err:
        _fail(err)
    _report(path)
    card = json.loads((Path(path) / "card.json").read_text())
    for key, sampled in card["metrics"].items():
        if key.startswith("sampled_t"):
            console.print(f"pass@{sampled['k']} (T={sampled['temperature']:g}, {sampled['n']} problems): "
                          f"{sampled['pass_at_k']:.1%}")
    console.print(f"rebuild with: {card['command']}")


train_cmd.__doc__ = (train_cmd.__doc__ or "") + "\n\nMethods and options (--set KEY=VALUE):\n\n" + methods_help()
