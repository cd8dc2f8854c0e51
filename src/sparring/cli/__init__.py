"""The `sparring` command line: a thin shell over the library's public functions.

All typer/rich code of sparring lives in this package (one module per group of commands;
``common`` holds what they share); the library below it never imports it.
"""

from __future__ import annotations

import typer

from .lab import report_cmd, run_cmd
from .probe import probe_cmd
from .tasks import data_build_cmd, data_recipes_cmd, sample_cmd, tasks_cmd, verify_cmd
from .train import merge_cmd, pretrain_cmd, rerank_cmd, self_eval_cmd, train_cmd

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Train language models against a sparring partner, and measure what they learned.",
)
data_app = typer.Typer(no_args_is_help=True, help="Build datasets (corpus recipes).")
app.add_typer(data_app, name="data")

app.command("tasks")(tasks_cmd)
app.command("sample")(sample_cmd)
app.command("verify")(verify_cmd)
data_app.command("build")(data_build_cmd)
data_app.command("recipes")(data_recipes_cmd)
app.command("run")(run_cmd)
app.command("report")(report_cmd)
app.command("probe")(probe_cmd)
app.command("train")(train_cmd)
app.command("pretrain")(pretrain_cmd)
app.command("rerank")(rerank_cmd)
app.command("merge")(merge_cmd)
app.command("self-eval")(self_eval_cmd)


def main() -> None:  # pragma: no cover
    app()


__all__ = ["app", "data_app", "main"]
