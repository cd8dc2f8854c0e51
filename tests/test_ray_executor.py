"""``sparring run --executor ray`` on a local Ray (2 CPUs, no dashboard): the same results
table as the in-process executor at the same threads per unit; a Ray worker killed (SIGKILL)
in the middle of a train unit re-runs only that unit, from its last checkpoint, and the
table is still the uninterrupted one.

The kill comes from inside the worker, at a known point: a Ray ``worker_process_setup_hook``
(this module's, pickled by value; nothing in sparring knows about it) wraps the executor's
``execute`` to log every unit a worker starts, and SFT's loss to SIGKILL its own process
once, after the checkpoint of step 4 is complete, when the test has written a plan file."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")  # installed by `make test` (the [ray] extra)

from sparring.lab import parse_spec, run  # noqa: E402
from sparring.lab.executors import ExecutorOptions, WorkerLost  # noqa: E402
from sparring.lab.spec import check_spec  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

PLAN_ENV = "SPARRING_TEST_RAY_PLAN"
STUDY = {
    "name": "ray-mini",
    "task": {"name": "countdown"},
    "base": "test",
    "budget": "10steps",
    "seeds": [0],
    "checkpoint_every": "4steps",
    "resources": {"cpus": 1},
    "arms": [
        {"name": "base", "method": "none"},
        {
            "name": "sft",
            "method": "sft",
            "config": {"n": 26, "batch_size": 4, "learning_rate": 1e-2, "show_progress": False, "logging_steps": 1},
        },
    ],
    "probes": {"names": ["accuracy"], "n": 4, "config": {"max_new_tokens": 8, "levels": [], "n_resamples": 50}},
}


def _worker_hook() -> None:
    """Runs in every Ray worker as it starts (test-only instrumentation)."""
    import json
    import os
    import signal
    from pathlib import Path

    from sparring.lab import runner
    from sparring.train import trainers
    from sparring.train.resume import MARKER

    plan_path = Path(os.environ["SPARRING_TEST_RAY_PLAN"])
    inner_execute, inner_loss = runner.execute, trainers.SparringSFTTrainer.compute_loss

    def logged_execute(call, progress=None):
        with open(plan_path.with_suffix(".log"), "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "unit": call.label, "resume": call.resume}) + "\n")
        return inner_execute(call, progress)

    def loss_or_die(self, *args, **kwargs):
        if plan_path.exists():
            plan = json.loads(plan_path.read_text())
            done, killed = Path(plan["checkpoint"]) / MARKER, Path(plan["killed"])
            if done.exists() and not killed.exists():
                killed.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return inner_loss(self, *args, **kwargs)

    runner.execute = logged_execute
    trainers.SparringSFTTrainer.compute_loss = loss_or_die


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    plan = tmp_path_factory.mktemp("ray") / "plan.json"
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": _worker_hook, "env_vars": {PLAN_ENV: str(plan)}},
    )
    yield plan
    ray.shutdown()


def _spec(arms: tuple[str, ...] = ("base", "sft")):
    study = json.loads(json.dumps(STUDY))
    study["arms"] = [a for a in study["arms"] if a["name"] in arms]
    return check_spec(parse_spec(study))


def _table(run_dir: Path) -> list[tuple]:
    db = sqlite3.connect(run_dir / "lab.sqlite")
    rows = db.execute("SELECT arm, seed, probe, metric, value, lo, hi, n FROM metrics ORDER BY arm, probe, metric")
    out = rows.fetchall()
    db.close()
    return out


def _started(plan: Path) -> list[dict]:
    log = plan.with_suffix(".log")
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The study in this process (the units pinned to resources.cpus = 1 thread)."""
    out = run(_spec(), tmp_path_factory.mktemp("inprocess") / "run", quiet=True)
    table = _table(out)
    assert {r[0] for r in table} == {"base", "sft"}
    return table


def test_ray_executor_gives_the_in_process_table(local_ray, reference, tmp_path):
    out = run(_spec(), tmp_path / "run", quiet=True, executor="ray")
    assert _table(out) == reference
    units = sorted(u["unit"] for u in _started(local_ray))
    assert units == ["probe base (seed 0)", "probe sft (seed 0)", "train base (seed 0)", "train sft (seed 0)"]
    # a second run finds everything done and submits nothing
    run(_spec(), out, quiet=True, executor="ray")
    assert len(_started(local_ray)) == 4


def test_a_killed_ray_worker_reruns_only_its_unit_from_its_checkpoint(local_ray, reference, tmp_path):
    local_ray.with_suffix(".log").unlink(missing_ok=True)
    out = tmp_path / "run"
    ckpt = out / "ckpt" / "sft-s0"
    killed = tmp_path / "killed"
    local_ray.write_text(json.dumps({"checkpoint": str(ckpt) + ".resume/checkpoint-4", "killed": str(killed)}))
    try:
        run(_spec(), out, quiet=True, executor="ray")
    finally:
        local_ray.unlink()
    assert killed.exists(), "the worker was never killed"
    started = _started(local_ray)
    trains = [u for u in started if u["unit"] == "train sft (seed 0)"]
    assert [u["resume"] for u in trains] == [False, True]  # run twice: the second from its checkpoint
    assert trains[0]["pid"] == int(killed.read_text()) != trains[1]["pid"]  # the killed worker, then a new one
    others = sorted(u["unit"] for u in started if u not in trains)
    assert others == ["probe base (seed 0)", "probe sft (seed 0)", "train base (seed 0)"]  # each once
    spent = json.loads((ckpt / "run.json").read_text())["metrics"]["train"]
    assert spent["resumed_from_step"] == 4 and spent["steps"] == 10
    assert _table(out) == reference


def test_with_no_retries_a_lost_worker_stops_the_run_and_the_next_run_resumes(local_ray, reference, tmp_path):
    """The sft arm alone (no other unit in flight to cancel, so Ray's idle worker takes over)."""
    local_ray.with_suffix(".log").unlink(missing_ok=True)
    out, killed = tmp_path / "run", tmp_path / "killed"
    plan = {"checkpoint": str(out / "ckpt" / "sft-s0") + ".resume/checkpoint-4", "killed": str(killed)}
    local_ray.write_text(json.dumps(plan))
    try:
        with pytest.raises(WorkerLost, match=r"train sft \(seed 0\): its Ray worker died .* 1 times"):
            run(_spec(("sft",)), out, quiet=True, executor="ray", options=ExecutorOptions(retries=0))
    finally:
        local_ray.unlink()
    db = sqlite3.connect(out / "lab.sqlite")
    assert db.execute("SELECT status FROM units WHERE arm='sft' AND kind='train'").fetchone() == ("running",)
    db.close()
    run(_spec(("sft",)), out, quiet=True, executor="ray")  # the same command again: that unit resumes
    trains = [u["resume"] for u in _started(local_ray) if u["unit"] == "train sft (seed 0)"]
    assert trains == [False, True]
    assert json.loads((out / "ckpt" / "sft-s0" / "run.json").read_text())["metrics"]["train"]["resumed_from_step"] == 4
    assert _table(out) == [r for r in reference if r[0] == "sft"]


@pytest.mark.parametrize(
    "resources, needle",
    [
        ({"cpus": 0}, "spec.resources.cpus: must be a positive integer"),
        ({"gpus": -1}, "spec.resources.gpus: must be a number >= 0"),
        ({"cpu": 2}, "spec.resources: unknown field(s) ['cpu']"),
        ([2], "spec.resources: must be a mapping"),
    ],
)
def test_bad_resources_fail_at_load_naming_the_field(resources, needle):
    with pytest.raises(ValueError) as err:
        parse_spec({**STUDY, "resources": resources})
    assert needle in str(err.value)


def test_unknown_executor_and_a_stray_address_are_refused(tmp_path):
    from typer.testing import CliRunner

    from sparring.cli import app

    with pytest.raises(ValueError, match="executor: unknown 'slurm'; executors: inprocess, ray"):
        run(_spec(), tmp_path / "run", quiet=True, executor="slurm")
    assert not (tmp_path / "run").exists()
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps(STUDY))
    r = CliRunner().invoke(app, ["run", str(spec), "--out", str(tmp_path / "cli"), "--address", "auto"])
    assert r.exit_code == 2 and "--address: only with --executor ray" in r.output
