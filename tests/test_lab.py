"""The lab: spec validation, a resumable run on the `test` preset, and its report."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sparring.lab import load_spec, run, write_report
from sparring.lab.report import build

SPEC = {
    "name": "mini",
    "task": {"name": "countdown"},
    "base": "test",
    "budget": "3steps",
    "seeds": [0],
    "arms": [
        {"name": "base", "method": "none"},
        {"name": "sft", "method": "sft", "config": {"n": 64, "batch_size": 8}},
    ],
    "probes": {
        "names": ["accuracy", "validity"],
        "n": 6,
        "config": {"max_new_tokens": 12, "levels": ["ood-n"], "n_resamples": 200},
    },
}


def write(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(spec))
    return p


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda s: s.update(budgett="3steps"), "budgett"),
        (lambda s: s["arms"][1].update(method="sftt"), "sftt"),
        (lambda s: s.update(budget="-5steps"), "budget"),
        (lambda s: s.update(base="/nonexistent/model"), "base"),
        (lambda s: s["arms"][1]["config"].update(lr=1), "lr"),
        (lambda s: s["probes"].update(names=["accuracy", "telepathy"]), "telepathy"),
        (lambda s: s["task"].update(config={"n_numbers": 17}), "n_numbers"),
        (lambda s: s["arms"].append({"name": "sft", "method": "cft"}), "unique"),
        (lambda s: s["arms"][1]["config"].update(budget="9steps"), "equal budgets"),
        # a capability the task lacks: one line naming arm, recipe or probe, and task
        (
            lambda s: s.update(task={"name": "linear"}),
            "probe 'validity' needs the 'steps' capability, which task 'linear'",
        ),
        (
            lambda s: (
                s.update(task={"name": "linear"}),
                s["arms"][1]["config"].update(recipe="perturbed", recipe_options={"kind": "shuffle_steps"}),
            ),
            r"arms\[1\] \(sft\): sft \(recipe 'perturbed'\) needs the 'steps' capability, which task 'linear'",
        ),
        (
            lambda s: s["arms"].append(
                {
                    "name": "p",
                    "method": "pipeline",
                    "config": {"stages": [{"method": "sft", "config": {"learnin_rate": 0.01}}, {"method": "grpo"}]},
                }
            ),
            r"arms\[2\] \(p\): pipeline.stages\[0\]: sft: unknown option\(s\) \['learnin_rate'\]",
        ),
        (
            lambda s: (
                s.update(task={"name": "linear"}),
                s["arms"].append(
                    {
                        "name": "p",
                        "method": "pipeline",
                        "config": {"stages": [{"method": "sft", "config": {"recipe": "search"}}]},
                    }
                ),
            ),
            r"stages\[0\]: sft \(recipe 'search'\) needs the 'search' capability",
        ),
    ],
)
def test_bad_specs_fail_before_training_naming_the_field(tmp_path, change, needle):
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    change(spec)
    with pytest.raises(ValueError, match=needle):
        load_spec(write(tmp_path, spec))


def _screenshot_checks(report: Path, tmp_path: Path) -> None:
    """Render report.html in headless Chromium (when installed): the page has the tables and
    every image it references exists and is drawn into the screenshot."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return
    flags = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,2400",
    ]
    url = (report / "report.html").resolve().as_uri()
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert "<table>" in dom and "Arms x probes" in dom and "Findings" in dom
    srcs = re.findall(r"<img src=\"([^\"]+)\"", dom)
    assert srcs and all((report / s).is_file() for s in srcs)
    shot = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000  # a rendered page, not a blank one


def _table(run_dir: Path) -> list[tuple]:
    db = sqlite3.connect(run_dir / "lab.sqlite")
    rows = db.execute(
        "SELECT arm, seed, probe, metric, value, lo, hi FROM metrics ORDER BY arm, probe, metric"
    ).fetchall()
    db.close()
    return rows


def test_run_resume_after_kill_and_report(tmp_path):
    # 20 steps: on an idle machine a 3-step sft unit (and its probes) can finish inside the
    # second the killer waits, so the kill would land after the last unit
    spec_path = write(tmp_path, {**SPEC, "budget": "20steps"})
    ref = run(load_spec(spec_path), tmp_path / "ref", quiet=True)
    reference = _table(ref)
    assert {r[0] for r in reference} == {"base", "sft"}

    # the report shows exactly what SQLite holds
    report = write_report(ref)
    md = (report / "report.md").read_text()
    d = build(ref)
    for (arm, probe, metric), (mean, lo, hi, _) in d["table"].items():
        row = next(r for r in reference if r[:4] == (arm, 0, probe, metric))
        assert abs(row[4] - mean) < 1e-12
        assert f"| {arm} | {probe} | {metric} | {mean:.3f}" in md
    assert (report / "report.html").read_text().count("<table>") >= 3
    assert (report / "depth_profile.png").stat().st_size > 1000
    _screenshot_checks(report, tmp_path)

    # kill -9 in the middle of the training stage, then the same command again
    _kill_and_resume(spec_path, tmp_path / "killed-train", "train", reference)


def test_run_resume_after_kill_during_probes_and_report(tmp_path):
    # more probe work than SPEC, so that the kill lands inside the sft arm's probe unit
    spec = {
        **SPEC,
        "probes": {
            **SPEC["probes"],
            "names": ["accuracy", "validity", "sensitivity"],
            "n": 120,
            "config": {**SPEC["probes"]["config"], "max_new_tokens": 32},
        },
    }
    spec_path = write(tmp_path, spec)
    ref = run(load_spec(spec_path), tmp_path / "ref", quiet=True)
    reference = _table(ref)
    out = tmp_path / "killed-probe"
    _kill_and_resume(spec_path, out, "probe", reference)

    # kill -9 while the report is being written: no half-written report is left, and the
    # same command again writes the report an uninterrupted run writes
    def same(md: str, run_dir: Path) -> str:  # training wall seconds differ between runs
        md = md.replace(str(run_dir), "RUN")
        # the Training table's last column: | arm | seed | FLOPs | steps | tokens | seconds |
        return re.sub(r"^(\| [^|]+ \| \d+ \| [^|]+ \| [^|]+ \| [^|]+ \| )[0-9.]+( \|)$", r"\1S\2", md, flags=re.M)

    expected = same((write_report(ref) / "report.md").read_text(), ref)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "sparring", "report", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1.5)  # inside imports / plotting: the report takes several seconds
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    report = out / "report"
    assert not report.exists() or (report / "report.md").exists(), "half-written report left"
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert same((report / "report.md").read_text(), out) == expected


def _kill_and_resume(spec_path: Path, out: Path, kind: str, reference: list[tuple]) -> None:
    """Start ``sparring run``, SIGKILL it while the sft arm's ``kind`` unit is running, check
    nothing half-written is left, re-run: it finishes and the table equals ``reference``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "sparring", "run", str(spec_path), "--out", str(out), "--no-report"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        db_path = out / "lab.sqlite"
        if db_path.exists():
            try:
                con = sqlite3.connect(db_path, timeout=1)
                running = con.execute(
                    "SELECT arm FROM units WHERE status='running' AND kind=? AND arm='sft'", (kind,)
                ).fetchall()
                con.close()
            except sqlite3.OperationalError:
                running = []
            if running:
                time.sleep(0.2 if kind == "probe" else 0.3)  # well inside the unit
                break
        time.sleep(0.1)
    assert proc.poll() is None, f"the run ended before it could be killed during {kind}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for p in (out / "ckpt").glob("*") if (out / "ckpt").exists() else []:
        assert (p / "run.json").exists(), f"half-written checkpoint left: {p}"
    con = sqlite3.connect(out / "lab.sqlite")
    done_before = con.execute("SELECT COUNT(*) FROM units WHERE status='done'").fetchone()[0]
    con.close()
    assert done_before < 4
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _table(out) == reference
    assert f"{done_before} of 4 units already done" in " ".join(r.stderr.split())


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_specs_validate(path):
    """Every shipped spec loads (fields, methods, options, base, probes all checked)."""
    spec = load_spec(path)
    assert spec.arms and spec.probes and spec.budget


def test_probes_all_keeps_what_the_task_supports(tmp_path):
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    spec["task"] = {"name": "linear"}
    spec["probes"] = {"names": "all", "n": 6}
    got = load_spec(write(tmp_path, spec)).probes
    assert "accuracy" in got and "critique" in got and "abstain" in got and "gaslight" in got
    assert not {"validity", "infogain", "confidence"} & set(got)


def test_quick_spec_is_the_headline_study():
    spec = load_spec(Path(__file__).resolve().parents[1] / "examples" / "quick.yaml")
    assert spec.base == "zoo:countdown-base-v2"
    assert {a.name for a in spec.arms} == {"base", "sft", "cft", "grpo", "raro", "sft-grpo"}


def test_pipeline_curves_lay_stages_end_to_end():
    """A pipeline checkpoint's per-stage histories become one curve with stage marks."""
    from sparring.lab.runner import _curves
    from sparring.models import RunCard

    stages = [
        {"steps": 20, "log_history": [{"step": 10, "loss": 0.5}, {"step": 20, "loss": 0.4}]},
        {"steps": 30, "log_history": [{"step": 10, "loss": 0.01, "reward": 0.3}, {"step": 30, "reward": 0.5}]},
    ]
    pts = _curves(RunCard("pipeline", metrics={"train": {"stages": stages}}))
    assert (20.0, "stage_start", 2.0) in pts
    assert [p for p in pts if p[1] == "loss"] == [(10.0, "loss", 0.5), (20.0, "loss", 0.4), (30.0, "loss", 0.01)]
    assert [p for p in pts if p[1] == "reward"] == [(30.0, "reward", 0.3), (50.0, "reward", 0.5)]
    assert _curves(RunCard("sft", metrics={"train": {"log_history": [{"step": 5, "loss": 1.0}]}})) == [
        (5.0, "loss", 1.0)
    ]


def test_editing_a_spec_redoes_only_what_changed(tmp_path):
    """Unit keys: after an edit, finished units with unchanged inputs are kept, changed arms
    are redone (train, then their probes), dropped arms leave the database; rows written
    before unit keys existed (key NULL) are adopted from the stored spec."""
    out = tmp_path / "run"
    run(load_spec(write(tmp_path, SPEC)), out, quiet=True)
    db = sqlite3.connect(out / "lab.sqlite")
    finished = dict(((a, k), f) for a, k, f in db.execute("SELECT arm, kind, finished FROM units"))
    db.execute("UPDATE units SET key=NULL")  # as written by a version without unit keys
    db.commit()

    edited = {
        **SPEC,
        "arms": [SPEC["arms"][0], {**SPEC["arms"][1], "config": {**SPEC["arms"][1]["config"], "learning_rate": 3e-4}}],
    }
    run(load_spec(write(tmp_path, edited, "edited.yaml")), out, quiet=True)
    now = dict(((a, k), f) for a, k, f in db.execute("SELECT arm, kind, finished FROM units"))
    assert now[("base", "train")] == finished[("base", "train")]
    assert now[("base", "probe")] == finished[("base", "probe")]
    assert now[("sft", "train")] > finished[("sft", "train")]
    assert now[("sft", "probe")] > finished[("sft", "probe")]
    assert db.execute("SELECT COUNT(*) FROM units WHERE key IS NULL").fetchone()[0] == 0

    dropped = {**edited, "arms": edited["arms"][:1]}
    run(load_spec(write(tmp_path, dropped, "dropped.yaml")), out, quiet=True)
    for table in ("units", "metrics", "curves"):
        assert {r[0] for r in db.execute(f"SELECT DISTINCT arm FROM {table}")} <= {"base"}
    assert (
        db.execute("SELECT finished FROM units WHERE arm='base' AND kind='probe'").fetchone()[0]
        == finished[("base", "probe")]
    )

    # --redo: an arm run again although its inputs did not change; a typo is one clear error
    with pytest.raises(ValueError, match="redo: no arm named bsae"):
        run(load_spec(write(tmp_path, dropped, "dropped.yaml")), out, quiet=True, redo=["bsae"])
    run(load_spec(write(tmp_path, dropped, "dropped.yaml")), out, quiet=True, redo=["base"])
    assert (
        db.execute("SELECT finished FROM units WHERE arm='base' AND kind='probe'").fetchone()[0]
        > finished[("base", "probe")]
    )
    db.close()


def test_the_committed_example_report_is_what_report_writes_from_its_results(tmp_path):
    """A reference output: docs/example-report/quick/report.md is exactly what
    ``write_report`` makes of the committed study results beside it (run/)."""
    import shutil

    from sparring.lab import write_report

    ref = Path(__file__).resolve().parents[1] / "docs" / "example-report" / "quick"
    for name in ("lab.sqlite", "spec.yaml"):
        shutil.copy(ref / "run" / name, tmp_path / name)
    out = write_report(tmp_path)
    assert (out / "report.md").read_text() == (ref / "report.md").read_text()
