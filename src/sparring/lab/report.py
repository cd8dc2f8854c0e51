"""Report: the run's SQLite results -> ``report/`` with report.md, report.html and PNGs.

Every number in the report is read from ``lab.sqlite`` (nothing is recomputed from
checkpoints), and the folder is written aside and renamed into place, so a report is
either the previous one or the complete new one.
"""

from __future__ import annotations

import html
import json
import platform
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sparring.atomic import atomic_dir
from sparring.tasks import list_tasks, task_class

from . import findings
from .plots import plots
from .store import Store

# (probe, metric, label, higher_is_better) shown in the main table and the depth profile;
# the OOD accuracy rows come from the study's task (``ood_metrics``), after the first.
KEY_METRICS = [
    ("accuracy", "accuracy", "accuracy (ID)", True),
    ("passk", "pass@4", "pass@4", True),
    ("validity", "validity", "trace validity", True),
    ("critique", "verdict_accuracy", "critique verdict acc.", True),
    ("critique", "first_error_accuracy", "first-error step acc.", True),
    ("compare", "accuracy", "comparison acc.", True),
    ("gaslight", "flip_rate", "gaslight flip rate", False),
    ("abstain", "f1", "abstention F1", True),
    ("sensitivity", "pss", "prompt sensitivity (PSS)", False),
    ("infogain", "infogain", "information gain", True),
    ("confidence", "flat_high_share", "premature confidence", False),
]
VERDICT_COLOUR = {"replicates": "#1a7f37", "does not replicate": "#cf222e", "inconclusive": "#9a6700"}


def ood_metrics(task_name: str | None, table: dict) -> list[tuple[str, str, str, bool]]:
    """One accuracy row per OOD level, named by the task's own level descriptions; a level
    the registry does not know (an old run, a task not installed) is named by its key."""

    levels = dict(task_class(task_name).levels) if task_name in list_tasks() else {}
    measured = sorted(
        {k[2][len("accuracy[") : -1] for k in table if k[1] == "accuracy" and k[2].startswith("accuracy[")}
    )
    names = [lv for lv in levels if lv != "id"] + [lv for lv in measured if lv not in levels]
    return [("accuracy", f"accuracy[{lv}]", f"accuracy ({levels.get(lv, lv)})", True) for lv in names]


def key_metrics(task_name: str | None, table: dict) -> list[tuple[str, str, str, bool]]:
    return KEY_METRICS[:1] + ood_metrics(task_name, table) + KEY_METRICS[1:]


def _table(store: Store) -> dict[tuple[str, str, str], tuple[float, float | None, float | None, int]]:
    """(arm, probe, metric) -> (mean over seeds, lo, hi, seeds); CI: mean of seed CIs for
    one seed, else widened to cover the spread of the seed means."""
    by: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in store.metrics():
        if r["value"] is not None:
            by[(r["arm"], r["probe"], r["metric"])].append(r)
    out = {}
    for key, rows in by.items():
        vals = [r["value"] for r in rows]
        los = [r["lo"] for r in rows if r["lo"] is not None]
        his = [r["hi"] for r in rows if r["hi"] is not None]
        lo = float(np.mean(los)) if los else None
        hi = float(np.mean(his)) if his else None
        if len(vals) > 1 and lo is not None:
            lo, hi = min(lo, min(vals)), max(hi, max(vals))
        out[key] = (float(np.mean(vals)), lo, hi, len(vals))
    return out


def not_applicable(store: Store) -> set[tuple[str, str]]:
    """(arm, probe) pairs whose probe reported it does not apply (metric ``not_applicable``
    1 on every seed it ran): the report prints "n/a" there, never a number."""
    seen: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in store.metrics():
        if r["metric"] == findings.NOT_APPLICABLE:
            seen[(r["arm"], r["probe"])].append(r["value"] == 1.0)
    return {k for k, flags in seen.items() if flags and all(flags)}


def fmt_ci(v: tuple | None, na: bool = False) -> str:
    """A table cell ``(mean, lo, hi, n)`` as ``mean [lo, hi]`` (``–`` when missing, ``n/a``
    when the probe does not apply)."""
    if na:
        return "n/a"
    if v is None:
        return "–"
    mean, lo, hi, _ = v
    return f"{mean:.3f}" if lo is None else f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def build(run_dir: str | Path) -> dict[str, Any]:
    """Everything the report shows, as plain data (also what tests compare with SQLite)."""
    store = Store(run_dir)
    try:
        spec = store.get_meta("spec")
        if spec is None:
            raise ValueError(f"{run_dir}: no results (run `sparring run SPEC --out {run_dir}` first)")
        table = _table(store)
        na = not_applicable(store)
        cols = [
            c
            for c in key_metrics(spec.get("task"), table)
            if any(k[1:] == c[:2] for k in table) or any(probe == c[0] for _, probe in na)
        ]
        roles = {a["role"] or a["name"]: a["name"] for a in spec["arms"]}
        return {
            "spec": spec,
            "table": table,
            "cols": cols,
            "not_applicable": sorted(na),
            "units": store.units(),
            "findings": findings.evaluate(store, roles) if spec.get("findings", True) else [],
            "all_metrics": sorted(table.items()),
            "run_dir": str(run_dir),
        }
    finally:
        store.close()


def _markdown(d: dict, images: list[str]) -> str:
    spec, table, cols = d["spec"], d["table"], d["cols"]
    lines = [
        f"# sparring report: {spec['name']}",
        "",
        f"Task `{spec['task']}` {spec['task_config'] or ''}, base `{spec['base']}`, budget "
        f"**{spec['budget']} per arm** ({_equal(spec['budget'])}), seeds {spec['seeds']}, "
        f"probes on n={spec['probe_n']} problems per level.",
        "",
        "## Arms x probes (mean [95% CI])",
        "",
        "| arm | " + " | ".join(c[2] for c in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    na = {tuple(x) for x in d.get("not_applicable", [])}
    for a in spec["arms"]:
        cells = [fmt_ci(table.get((a["name"], c[0], c[1])), (a["name"], c[0]) in na) for c in cols]
        lines.append(f"| {a['name']} | " + " | ".join(cells) + " |")
    if na:
        lines += ["", f"n/a: the probe does not apply to the arm's style ({findings.NA_NOTE})."]
    lines += [
        "",
        *[f"![{img}]({img})" for img in images],
        "",
        "## Findings (METHODS.md section 3)",
        "",
        f"Rule: {findings.RULE}",
        "",
        "| # | claim | published | comparison | metric | effect [95% CI] | replicates if | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in d["findings"]:
        eff = "–" if f["effect"] is None else f"{f['effect']:+.3f} [{f['lo']:+.3f}, {f['hi']:+.3f}]"
        lines.append(
            f"| {f['id']} | {f['statement']} | {f['published']} | {f['comparison']} | "
            f"{f['metric']} | {eff} | {f['rule']} | {f['verdict']} |"
        )
    lines += [
        "",
        "## Training",
        "",
        "What each arm spent (FLOPs by the rule of docs/flops.md: training passes, rollouts and",
        "every extra pass; evaluation outside training not counted). Seconds are this machine's.",
        "",
        "| arm | seed | FLOPs | steps | tokens | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for u in d["units"]:
        if u["kind"] == "train" and u["status"] == "done":
            metrics = json.loads(u["detail"] or "{}").get("metrics") or {}
            m = metrics.get("train") or {}
            stages = [st or {} for st in m.get("stages") or []]  # a pipeline: per stage, as "a + b"
            parts = stages or [m]
            flops = [st.get("flops") for st in parts]
            spent = "–" if None in flops else _flops(sum(flops))
            if stages and None not in flops:
                spent += " (" + " + ".join(_flops(f) for f in flops) + ")"
            steps, tokens = (" + ".join(str(st.get(k, "–")) for st in parts) for k in ("steps", "tokens"))
            lines.append(f"| {u['arm']} | {u['seed']} | {spent} | {steps} | {tokens} | {u['seconds']:.0f} |")
    lines += _tensorboard_links(d)
    lines += ["", "## All metrics", "", "| arm | probe | metric | value [95% CI] | seeds |", "|---|---|---|---|---|"]
    for (arm, probe, metric), v in d["all_metrics"]:
        lines.append(f"| {arm} | {probe} | {metric} | {fmt_ci(v)} | {v[3]} |")
    lines += [
        "",
        "## Resolved spec",
        "",
        "```yaml",
        yaml.safe_dump(spec, sort_keys=False).strip(),
        "```",
        "",
        "## Versions",
        "",
        *[f"- {k}: {v}" for k, v in _versions().items()],
        "",
    ]
    return "\n".join(lines)


def _tensorboard_links(d: dict) -> list[str]:
    """With the spec's ``tensorboard: true``: a link to each train unit's TensorBoard logs
    (``RUN/tensorboard/ARM-sSEED/``, relative to the report folder) that exists."""
    if not d["spec"].get("tensorboard"):
        return []
    from .runner import TENSORBOARD

    run_dir = Path(d.get("run_dir", "."))
    units = [
        u for u in d["units"] if u["kind"] == "train" and (run_dir / TENSORBOARD / f"{u['arm']}-s{u['seed']}").is_dir()
    ]
    lines = ["", f"TensorBoard logs (`tensorboard --logdir {run_dir / TENSORBOARD}`):", ""]
    for u in units:
        name = f"{u['arm']}-s{u['seed']}"
        lines.append(f"- [{name}](../{TENSORBOARD}/{name}/)")
    return lines if units else []


def _flops(n: float) -> str:
    return f"{float(n):.2e}"


def _equal(budget: Any) -> str:
    """What the budget makes equal between arms, said plainly."""
    text = str(budget).lower()
    if "flop" in text:
        return "the same FLOPs for every arm"
    return "the same for every arm, which is not equal compute: see FLOPs under Training"


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("sparring", "torch", "transformers", "trl", "datasets", "accelerate"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _html(md_text: str, d: dict) -> str:
    """A self-contained page: the markdown tables rendered as HTML tables, images inline."""
    from jinja2 import Environment

    blocks, rows, in_code = [], [], False
    for line in md_text.split("\n"):
        if line.startswith("```"):
            blocks.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
        elif in_code:
            blocks.append(html.escape(line))
        elif line.startswith("|"):
            if not set(line) <= set("|-"):
                rows.append([html.escape(c.strip()) for c in line.strip("|").split("|")])
        else:
            if rows:
                head, *body = rows
                blocks.append(
                    "<table><tr>"
                    + "".join(f"<th>{c}</th>" for c in head)
                    + "</tr>"
                    + "".join("<tr>" + "".join(f"<td class='{_cls(c)}'>{c}</td>" for c in r) + "</tr>" for r in body)
                    + "</table>"
                )
                rows = []
            if line.startswith("!["):
                src = line[line.index("(") + 1 : -1]
                blocks.append(f"<img src='{html.escape(src)}' alt='{html.escape(src)}'>")
            elif line.startswith("#"):
                level = len(line) - len(line.lstrip("#"))
                blocks.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
            elif line.strip():
                text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(line))
                text = re.sub(r"[*][*]([^*]+)[*][*]", r"<b>\1</b>", text)
                text = re.sub(r"^- \[([^\]]+)\]\(([^)\s']+)\)$", r"<a href='\2'>\1</a>", text)  # a link line
                blocks.append(f"<p>{text}</p>")
    page = Environment(autoescape=False).from_string(PAGE)
    return page.render(title=f"sparring report: {d['spec']['name']}", body="\n".join(blocks))


def _cls(cell: str) -> str:
    if cell in set(findings.PREMISE_VERDICT.values()):  # the claim itself is not decided
        return "pre"
    return {"replicates": "ok", "does not replicate": "bad", "inconclusive": "meh"}.get(cell, "")


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{{ title }}</title><style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#1f2328}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #d0d7de;padding:4px 8px}
th{background:#f6f8fa}img{max-width:100%;border:1px solid #d0d7de;margin:1em 0}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.meh{color:#9a6700}.pre{color:#656d76;font-style:italic}
pre{background:#f6f8fa;padding:1em;font-size:12px}</style></head><body>{{ body }}</body></html>"""


def write_report(run_dir: str | Path, data: dict[str, Any] | None = None) -> Path:
    """Write ``run_dir/report/`` (report.md, report.html, PNGs) atomically; returns it.
    ``data``: what :func:`build` returned for this run, when the caller has it already."""
    run_dir = Path(run_dir)
    d = build(run_dir) if data is None else data
    final = run_dir / "report"
    with atomic_dir(final) as tmp:
        store = Store(run_dir)
        try:
            images = plots(
                store, d["spec"], d["table"], d["cols"], tmp, {tuple(x) for x in d.get("not_applicable", [])}
            )
        finally:
            store.close()
        md_text = _markdown(d, images)
        (tmp / "report.md").write_text(md_text)
        (tmp / "report.html").write_text(_html(md_text, d))
    return final
