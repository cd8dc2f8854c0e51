"""``sparring tasks``, ``sample``, ``verify`` and ``data build`` / ``data recipes``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from sparring.settings import parse_settings
from sparring.tasks import CAPABILITIES, list_tasks, load_problem
from sparring.tasks import get_task as lookup
from sparring.tasks.gym import available as gym_names

from .common import OLD_TASK_SET, TASK_SET, _fail, console, get_task
from .teachers import TEACHER, TEACHER_MODEL, with_teachers


def tasks_cmd() -> None:
    """List the registered tasks: capabilities, levels, templates and config defaults."""

    table = Table(title="sparring tasks", show_lines=True)
    for col in ("task", "capabilities", "levels", "templates", "config (defaults)"):
        table.add_column(col, overflow="fold")
    for name in list_tasks():
        t = lookup(name)
        caps = ", ".join(c for c in CAPABILITIES if t.has(c)) or "none"
        levels = "\n".join(f"{lv}: {desc}" for lv, desc in t.levels.items())
        cfg = ", ".join(f"{k}={v}" for k, v in t.config_dict().items() if k != "heldout_targets")
        table.add_row(name, caps, levels, str(len(t.templates)), cfg)
    console.print(table)
    console.print("capabilities: " + "; ".join(f"[bold]{k}[/]: {v}" for k, v in CAPABILITIES.items()))
    try:
        names = gym_names()
        console.print(
            f"reasoning-gym: --task rg:NAME (its config as --task-set), NAME one of {len(names)}: " + ", ".join(names)
        )
    except ValueError as err:  # the gym extra is not installed
        console.print(str(err))


def sample_cmd(
    task: str = typer.Argument(..., help="Task name (see `sparring tasks`)."),
    split: str = typer.Option("test", help="train, validation, test or an OOD level."),
    seed: int = typer.Option(0, help="Which problem to draw."),
    task_set: Optional[list[str]] = TASK_SET,
    old_set: Optional[list[str]] = OLD_TASK_SET,
    style: str = typer.Option("char", "--style", help="Which prompts and gold to show: char or chat."),
) -> None:
    """Show a problem, its gold solution, a flawed solution with its critique, a search trace."""
    from sparring.corpus import programmatic_critique

    t = get_task(task, task_set, old_set, "sample")
    try:
        p = t.problems(split, n=1, seed=seed)[0]
    except ValueError as err:
        _fail(err)
    if style not in t.styles:
        _fail(f"--style: task {task} has styles {list(t.styles)}, not {style!r}")
    console.rule(f"{task} problem {p.id} ({p.level}, {p.difficulty})")
    console.print("[bold]problem json:[/] " + json.dumps(p.to_dict()))
    for i in range(len(t.chat_templates if style == "chat" else t.templates)):
        console.print(f"[bold]{style} prompt (template {i}):[/] {t.prompt(p, i, style)!r}")
    what = "gold solution" if style == "char" else "gold chat completion"
    console.print(f"[bold]{what}:[/]\n" + t.gold_completion(p, style))
    if p.solvable and t.has("flaws"):
        flawed, kind, first = t.flaw(p, seed=seed)
        where = f", first error at step {first + 1}" if t.has("steps") else ""
        console.print(f"[bold]flawed solution[/] ({kind}{where}):\n{flawed}")
        console.print("[bold]programmatic critique:[/]\n" + programmatic_critique(t, p, flawed))
    if p.solvable and t.has("search"):
        trace, found = t.search_trace(p)
        console.print(f"[bold]search trace[/] (dfs, sum, beam 3; goal reached: {found}):\n{trace}")


def verify_cmd(
    task: str = typer.Argument(...),
    problem_json: str = typer.Option(..., help="Problem as JSON (as `sparring sample` prints) or @file."),
    completion: str = typer.Option(..., help="The completion text (\\n for newlines) or @file."),
    task_set: Optional[list[str]] = TASK_SET,
    old_set: Optional[list[str]] = OLD_TASK_SET,
) -> None:
    """Verify one completion against one problem and print the per-step verdicts."""

    t = get_task(task, task_set, old_set, "verify")

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
    table = Table(
        title=f"verdict: {'CORRECT' if v.correct else 'WRONG'}  (answer {'right' if v.answer_correct else 'wrong'})"
    )
    for col in ("step", "text", "ok", "why"):
        table.add_column(col, overflow="fold")
    for s in v.steps:
        table.add_row(str(s.index + 1), s.text, "yes" if s.ok else "NO", s.reason)
    console.print(table)
    if v.first_error is not None:
        console.print(
            f"first error: step {v.first_error + 1}"
            + (" (the conclusion)" if v.first_error == len(v.steps) else "")
            + f" - {v.reason}"
        )
    raise typer.Exit(code=0 if v.correct else 1)


def data_build_cmd(
    recipe: str = typer.Argument(..., help="Recipe name (see `sparring data recipes`)."),
    task: str = typer.Option("countdown", help="Task name."),
    n: int = typer.Option(1000, help="Rows (or problems) wanted."),
    seed: int = typer.Option(0),
    out: Path = typer.Option(..., help="Output directory (written atomically)."),
    overwrite: bool = typer.Option(False, help="Replace an existing output directory."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-o", help="Recipe option KEY=VALUE (repeatable)."),
    task_set: Optional[list[str]] = TASK_SET,
    old_set: Optional[list[str]] = OLD_TASK_SET,
    style: Optional[str] = typer.Option(
        None, "--style", help="char or chat (TRL's conversational rows); the recipe option style, default char."
    ),
    teacher: Optional[list[str]] = TEACHER,
    teacher_model: Optional[list[str]] = TEACHER_MODEL,
) -> None:
    """Build a dataset with a recipe and write it plus card.json (config, counts, content hash)."""
    from sparring import corpus

    t = get_task(task, task_set, old_set, "data build")
    try:
        opts = with_teachers(recipe, parse_settings(option, "--option"), teacher, teacher_model)
        if style is not None:
            opts["style"] = style
    except ValueError as err:
        _fail(err)
    try:
        if teacher:  # LLM requests show their own progress bar
            ds = corpus.build(recipe, t, n, seed, **opts)
        else:
            with console.status(f"building {recipe} x {n} for {task}"):
                ds = corpus.build(recipe, t, n, seed, **opts)
        card = corpus.card(ds, recipe, t, n, seed, opts)
        corpus.save(ds, out, card, overwrite=overwrite)
    except ValueError as err:
        _fail(err)
    console.print(f"wrote {len(ds)} rows to {out} (content hash {card['content_hash']})")
    keys = ("recipe", "task", "rows", "labels", "distinct_problems", "teacher")
    console.print_json(json.dumps({k: card[k] for k in keys if k in card}, default=str))


def data_recipes_cmd() -> None:
    """List the corpus recipes."""
    from sparring.corpus import RECIPES

    for name, fn in RECIPES.items():
        doc = (fn.__doc__ or "").strip().split("\n")[0]
        console.print(f"[bold]{name}[/]: {doc}")
