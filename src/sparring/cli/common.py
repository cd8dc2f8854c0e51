"""What every command shares: the consoles, one-line errors, ``KEY=VALUE`` options, tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from sparring.settings import merged, parse_settings
from sparring.tasks import get_task as lookup

console = Console()
err_console = Console(stderr=True)

TASK_SET = typer.Option(None, "--task-set", help="Task config KEY=VALUE (repeatable), e.g. --task-set n_numbers=4")
# the old spelling on the commands whose --set meant task options (train's --set is method options)
OLD_TASK_SET = typer.Option(None, "--set", "-s", hidden=True, help="Deprecated: use --task-set.")

STYLE_HELP = (
    "Prompt format: auto (chat for any model whose tokenizer is not sparring's char tokenizer, "
    "else char), char (raw char prompts), chat (natural-language prompts through the chat "
    "template, answers in <answer> tags)."
)
SYSTEM_PROMPT = typer.Option(None, "--system-prompt", help="Chat style: a system message before every prompt.")


def _fail(err: Exception | str, out: Console = console) -> None:
    out.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)  # one line, whatever the width
    raise typer.Exit(code=2)


def task_settings(task_set: list[str] | None, old_set: list[str] | None = None, command: str = "") -> dict:
    """The task config of ``--task-set`` (and of the deprecated ``--set``, with a warning
    line on stderr; ``--task-set`` wins where both set a key). Raises ValueError."""
    out = {}
    if old_set:
        typer.echo(
            f"warning: --set on 'sparring {command}' sets task options and is deprecated; use --task-set", err=True
        )
        out.update(parse_settings(old_set, "--set"))
    out.update(parse_settings(task_set, "--task-set"))
    return out


def get_task(name: str, task_set: list[str] | None, old_set: list[str] | None = None, command: str = ""):
    """The task NAME with its ``--task-set`` config, or a one-line error (exit 2)."""

    try:
        return lookup(name, **task_settings(task_set, old_set, command))
    except ValueError as err:
        _fail(err)


def load_options(config: Optional[Path], settings: list[str] | None) -> dict:
    """Method options: the ``--config`` file, then each ``--set KEY=VALUE`` over it."""
    from sparring.train.config import load_config_file

    data = load_config_file(config) if config is not None else {}
    return merged(data, parse_settings(settings))
