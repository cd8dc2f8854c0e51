"""The `sparring` command line: a thin shell over the library's public functions."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sparring.settings import parse_settings

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Train language models against a sparring partner, and measure what they learned.")
data_app = typer.Typer(no_args_is_help=True, help="Build datasets (corpus recipes).")
app.add_typer(data_app, name="data")
console = Console()


def _fail(err: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)  # one line, whatever the width
    raise typer.Exit(code=2)


def _task(name: str, settings: list[str] | None):
    from sparring.tasks import get_task

    try:
        return get_task(name, **parse_settings(settings, "--set"))
    except ValueError as err:
        _fail(err)


TASK_SET = typer.Option(None, "--set", "-s", help="Task config KEY=VALUE (repeatable), e.g. -s n_numbers=4")


@app.command("tasks")
def tasks_cmd() -> None:
    """List the registered tasks: capabilities, levels, templates and config defaults."""
    from sparring.tasks import CAPABILITIES, get_task, list_tasks

    table = Table(title="sparring tasks", show_lines=True)
    for col in ("task", "capabilities", "levels", "templates", "config (defaults)"):
        table.add_column(col, overflow="fold")
    for name in list_tasks():
        t = get_task(name)
        caps = ", ".join(c for c in CAPABILITIES if t.has(c)) or "none"
        levels = "\n".join(f"{lv}: {desc}" for lv, desc in t.levels.items())
        cfg = ", ".join(f"{k}={v}" for k, v in t.config_dict().items() if k != "heldout_targets")
        table.add_row(name, caps, levels, str(len(t.templates)), cfg)
    console.print(table)
    console.print("capabilities: " + "; ".join(f"[bold]{k}[/]: {v}" for k, v in CAPABILITIES.items()))


@app.command("sample")
def sample_cmd(task: str = typer.Argument(..., help="Task name (see `sparring tasks`)."),
               split: str = typer.Option("test", help="train, validation, test or an OOD level."),
               seed: int = typer.Option(0, help="Which problem to draw."),
               settings: Optional[list[str]] = TASK_SET) -> None:
    """Show a problem, its gold solution, a flawed solution with its critique, a search trace."""
    from sparring.corpus import programmatic_critique

    t = _task(task, settings)
    try:
        p = t.problems(split, n=1, seed=seed)[0]
    except ValueError as err:
        _fail(err)
    console.rule(f"{task} problem {p.id} ({p.level}, {p.difficulty})")
    console.print("[bold]problem json:[/] " + json.dumps(p.to_dict()))
    for i in range(len(t.templates)):
        console.print(f"[bold]prompt (template {i}):[/] {t.prompt(p, i)!r}")
    console.print("[bold]gold solution:[/]\n" + t.solve(p))
    if p.solvable and t.has("flaws"):
        flawed, kind, first = t.flaw(p, seed=seed)
        where = f", first error at step {first + 1}" if t.has("steps") else ""
        console.print(f"[bold]flawed solution[/] ({kind}{where}):\n{flawed}")
        console.print("[bold]programmatic critique:[/]\n" + programmatic_critique(t, p, flawed))
    if p.solvable and t.has("search"):
        trace, found = t.search_trace(p)
        console.print(f"[bold]search trace[/] (dfs, sum, beam 3; goal reached: {found}):\n{trace}")


@app.command("verify")
def verify_cmd(task: str = typer.Argument(...),
               problem_json: str = typer.Option(..., help="Problem as JSON (as `sparring sample` prints) or @file."),
               completion: str = typer.Option(..., help="The completion text (\\n for newlines) or @file."),
               settings: Optional[list[str]] = TASK_SET) -> None:
    """Verify one completion against one problem and print the per-step verdicts."""
    from sparring.tasks import load_problem

    t = _task(task, settings)

    def read(arg: str) -> str:
        return Path(arg[1:]).read_text() if arg.startswith("@") else arg

    try:
        raw = json.loads(read(problem_json))
        if isinstance(raw, dict) and "task" not in raw:
            raw = {"task": task, "data": raw}
        p = load_problem(raw)
    except (ValueError, OSError) as err:
        _fail(f"--problem-json: {err}")
    text = read(completion).replace("\\n", "\n")
    v = t.verify(p, text)
    table = Table(title=f"verdict: {'CORRECT' if v.correct else 'WRONG'}  "
                        f"(answer {'right' if v.answer_correct else 'wrong'})")
    for col in ("step", "text", "ok", "why"):
        table.add_column(col, overflow="fold")
    for s in v.steps:
        table.add_row(str(s.index + 1), s.text, "yes" if s.ok else "NO", s.reason)
    console.print(table)
    if v.first_error is not None:
        console.print(f"first error: step {v.first_error + 1}" +
                      (" (the conclusion)" if v.first_error == len(v.steps) else "") +
                      f" - {v.reason}")
    raise typer.Exit(code=0 if v.correct else 1)


@data_app.command("build")
def data_build_cmd(recipe: str = typer.Argument(..., help="Recipe name (see `sparring data recipes`)."),
                   task: str = typer.Option("countdown", help="Task name."),
                   n: int = typer.Option(1000, help="Rows (or problems) wanted."),
                   seed: int = typer.Option(0),
                   out: Path = typer.Option(..., help="Output directory (written atomically)."),
                   overwrite: bool = typer.Option(False, help="Replace an existing output directory."),
                   option: Optional[list[str]] = typer.Option(None, "--option", "-o",
                                                              help="Recipe option KEY=VALUE (repeatable)."),
                   settings: Optional[list[str]] = TASK_SET) -> None:
    """Build a dataset with a recipe and write it plus card.json (config, counts, content hash)."""
    from sparring import corpus

    t = _task(task, settings)
    try:
        opts = parse_settings(option, "--option")
    except ValueError as err:
        _fail(err)
    try:
        with console.status(f"building {recipe} x {n} for {task}"):
            ds = corpus.build(recipe, t, n, seed, **opts)
            card = corpus.card(ds, recipe, t, n, seed, opts)
            corpus.save(ds, out, card, overwrite=overwrite)
    except ValueError as err:
        _fail(err)
    console.print(f"wrote {len(ds)} rows to {out} (content hash {card['content_hash']})")
    console.print_json(json.dumps({k: card[k] for k in ("recipe", "task", "rows", "labels",
                                                        "distinct_problems")}, default=str))


@data_app.command("recipes")
def data_recipes_cmd() -> None:
    """List the corpus recipes."""
    from sparring.corpus import RECIPES

    for name, fn in RECIPES.items():
        doc = (fn.__doc__ or "").strip().split("\n")[0]
        console.print(f"[bold]{name}[/]: {doc}")


def main() -> None:  # pragma: no cover
    app()


@app.command("run")
def run_cmd(spec: Path = typer.Argument(..., help="Experiment spec (YAML), e.g. examples/quick.yaml."),
            out: Optional[Path] = typer.Option(None, help="Run folder (default: runs/<spec name>)."),
            restart: bool = typer.Option(False, help="Discard every result already in --out (by default a "
                                         "re-run keeps each finished unit whose inputs are unchanged)."),
            redo: list[str] = typer.Option([], help="Arm to run again even if finished (repeatable), e.g. "
                                                   "after changing sparring itself."),
            report: bool = typer.Option(True, help="Write the report when the run is complete.")) -> None:
    """Run (or resume) a study: arms x seeds, each arm at the spec's budget, then every probe.

    Results go to OUT/lab.sqlite as each unit finishes; re-running the same command after
    an interruption redoes only the unit that was in flight, and re-running after editing
    the spec redoes only the units the edit changes (an arm's config, the probes, ...).
    """
    from sparring.lab import load_spec, run, write_report
    from sparring.lab.report import build

    try:
        s = load_spec(spec)
        run_dir = run(s, out or Path("runs") / s.name, restart=restart, redo=tuple(redo))
        if report:
            path = write_report(run_dir)
    except ValueError as err:
        _fail(err)
    _print_summary(build(run_dir))
    if report:
        console.print(f"report: {path / 'report.html'} (and report.md)")


@app.command("report")
def report_cmd(run_dir: Path = typer.Argument(..., help="A run folder written by `sparring run`.")) -> None:
    """Write RUN_DIR/report/ (report.html, report.md, PNGs) from the run's SQLite results."""
    from sparring.lab import write_report
    from sparring.lab.report import build

    try:
        path = write_report(run_dir)
    except ValueError as err:
        _fail(err)
    _print_summary(build(run_dir))
    console.print(f"report: {path / 'report.html'} (and report.md)")


def _print_summary(d: dict) -> None:
    from sparring.lab.report import _fmt

    # probes down, arms across: a terminal is narrower than the number of metrics
    arms = [a["name"] for a in d["spec"]["arms"]]
    table = Table(title=f"{d['spec']['name']}: probes x arms (mean [95% CI])")
    table.add_column("metric")
    for arm in arms:
        table.add_column(arm)
    for c in d["cols"]:
        table.add_row(c[2], *[_fmt(d["table"].get((arm, c[0], c[1]))) for arm in arms])
    console.print(table)
    tested = [f for f in d["findings"] if f["effect"] is not None]
    if tested:
        ft = Table(title="findings (rule in the report)")
        for col in ("#", "claim", "comparison", "effect", "verdict"):
            ft.add_column(col)
        for f in tested:
            ft.add_row(f["id"], f["statement"], f["comparison"],
                       f"{f['effect']:+.3f} [{f['lo']:+.3f}, {f['hi']:+.3f}]", f["verdict"])
        console.print(ft)


def _register_layer_commands() -> None:
    """Commands whose code lives with their layer (probes, train)."""
    from sparring.probes.command import probe_cmd

    app.command("probe")(probe_cmd)
    from sparring.train.command import pretrain_cmd, train_cmd
    from sparring.train.rerank import rerank_cmd

    app.command("train")(train_cmd)
    app.command("pretrain")(pretrain_cmd)
    app.command("rerank")(rerank_cmd)


_register_layer_commands()

if __name__ == "__main__":  # pragma: no cover  (after every command is registered)
    main()
