"""``sparring run`` (a study, resumable) and ``sparring report``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .common import _fail, console


def run_cmd(
    spec: Path = typer.Argument(..., help="Experiment spec (YAML), e.g. examples/quick.yaml."),
    out: Optional[Path] = typer.Option(None, help="Run folder (default: runs/<spec name>)."),
    restart: bool = typer.Option(
        False,
        help="Discard every result already in --out (by default a "
        "re-run keeps each finished unit whose inputs are unchanged).",
    ),
    redo: list[str] = typer.Option(
        [], help="Arm to run again even if finished (repeatable), e.g. after changing sparring itself."
    ),
    report: bool = typer.Option(True, help="Write the report when the run is complete."),
    executor: str = typer.Option(
        "inprocess",
        help="Where units run: inprocess (one after another, here) or ray (each unit a Ray task "
        "with the spec's resources; pip install 'sparring\\[ray]'; docs/scale.md).",
    ),
    address: Optional[str] = typer.Option(
        None, help="--executor ray: the cluster to join ('auto', 'ray://HOST:10001'); default: a local Ray."
    ),
) -> None:
    """Run (or resume) a study: arms x seeds, each arm at the spec's budget, then every probe.

    Results go to OUT/lab.sqlite as each unit finishes; re-running the same command after
    an interruption redoes only the unit that was in flight, and re-running after editing
    the spec redoes only the units the edit changes (an arm's config, the probes, ...).
    """
    from sparring.lab import build_report, load_spec, run, write_report
    from sparring.lab.executors import ExecutorOptions, WorkerLost

    try:
        if address is not None and executor != "ray":
            raise ValueError("--address: only with --executor ray")
        s = load_spec(spec)
        run_dir = run(
            s,
            out or Path("runs") / s.name,
            restart=restart,
            redo=tuple(redo),
            executor=executor,
            options=ExecutorOptions(address=address),
        )
        d = build_report(run_dir)
        if report:
            path = write_report(run_dir, d)
    except ValueError as err:
        _fail(err)
    except WorkerLost as err:  # not a usage error: the finished units are kept; exit code 1
        console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        raise typer.Exit(code=1)
    _print_summary(d)
    if report:
        console.print(f"report: {path / 'report.html'} (and report.md)")


def report_cmd(run_dir: Path = typer.Argument(..., help="A run folder written by `sparring run`.")) -> None:
    """Write RUN_DIR/report/ (report.html, report.md, PNGs) from the run's SQLite results."""
    from sparring.lab import build_report, write_report

    try:
        d = build_report(run_dir)
        path = write_report(run_dir, d)
    except ValueError as err:
        _fail(err)
    _print_summary(d)
    console.print(f"report: {path / 'report.html'} (and report.md)")


def _print_summary(d: dict) -> None:
    from sparring.lab import fmt_ci

    # probes down, arms across: a terminal is narrower than the number of metrics
    arms = [a["name"] for a in d["spec"]["arms"]]
    table = Table(title=f"{d['spec']['name']}: probes x arms (mean [95% CI])")
    table.add_column("metric")
    for arm in arms:
        table.add_column(arm)
    for c in d["cols"]:
        table.add_row(c[2], *[fmt_ci(d["table"].get((arm, c[0], c[1]))) for arm in arms])
    console.print(table)
    tested = [f for f in d["findings"] if f["effect"] is not None]
    if tested:
        ft = Table(title="findings (rule in the report)")
        for col in ("#", "claim", "comparison", "effect", "verdict"):
            ft.add_column(col)
        for f in tested:
            ft.add_row(
                f["id"],
                f["statement"],
                f["comparison"],
                f"{f['effect']:+.3f} [{f['lo']:+.3f}, {f['hi']:+.3f}]",
                f["verdict"],
            )
        console.print(ft)
