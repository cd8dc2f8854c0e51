"""The command line, as a user runs it (typer's runner, same process)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from test_layers import SRC, imported
from typer.testing import CliRunner

from sparring.cli import app

runner = CliRunner()
PJ = json.dumps({"numbers": [3, 7, 9], "target": 30})


def run(*args):
    return runner.invoke(app, list(args))


COMMANDS = [
    [],
    ["tasks"],
    ["sample"],
    ["verify"],
    ["data"],
    ["data", "build"],
    ["data", "recipes"],
    ["run"],
    ["report"],
    ["probe"],
    ["train"],
    ["pretrain"],
    ["rerank"],
]


def test_help_everywhere():
    for args in COMMANDS:
        r = run(*args, "--help")
        assert r.exit_code == 0, (args, r.output)
        assert "Usage" in r.output
    top = run("--help").output
    assert all(cmd[0] in top for cmd in COMMANDS if cmd)


def test_tasks_lists_three_tasks_with_capabilities_and_levels(monkeypatch):
    import sparring.cli.common

    monkeypatch.setattr(sparring.cli.common.console, "width", 200)  # one table row per line
    r = run("tasks")
    assert r.exit_code == 0
    for part in (
        "countdown",
        "arith",
        "linear",
        "wrong_answers",
        "ood-target: OOD: held-out targets",
        "ood-both: OOD: x on both sides",
        "validation_permille=50",
    ):
        assert part in r.output, part
    linear_row = next(ln for ln in r.output.splitlines() if ln.startswith("│ linear"))
    assert "steps" not in linear_row and "search" not in linear_row


def test_sample_without_steps_shows_a_verdict_level_critique():
    r = run("sample", "linear", "--seed", "3")
    assert r.exit_code == 0, r.output
    for part in ("<answer>", "flawed solution", "Critique:\nFinal:", "Conclusion: wrong"):
        assert part in r.output, part
    assert "first error at step" not in r.output and "Current State:" not in r.output


def test_sample_shows_everything():
    r = run("sample", "countdown", "--seed", "3")
    assert r.exit_code == 0, r.output
    for part in ("gold solution", "flawed solution", "Critique:", "Conclusion:", "Current State:"):
        assert part in r.output, part


def test_verify_right_and_wrong():
    r = run("verify", "countdown", "--problem-json", PJ, "--completion", "7*3=21\\n21+9=30")
    assert r.exit_code == 0 and "CORRECT" in r.output
    r = run("verify", "countdown", "--problem-json", PJ, "--completion", "7*3=21\\n21*9=30")
    assert r.exit_code == 1 and "first error: step 2" in r.output


def test_verify_bad_problem_json_is_one_clear_error():
    r = run("verify", "countdown", "--problem-json", '{"numbers": "x", "target": 3}', "--completion", "1")
    assert r.exit_code == 2 and "numbers" in r.output and "Traceback" not in r.output


def _numbers(output: str) -> list[str]:
    """The numbers of the problem ``sample`` printed (its JSON line may wrap)."""
    return re.search(r'"numbers": \[([^\]]*)\]', output).group(1).split(",")


def test_task_set_applies_to_sample():
    r = run("sample", "countdown", "--task-set", "n_numbers=5")
    assert r.exit_code == 0 and r.stderr == "", r.output
    assert len(_numbers(r.output)) == 5


# every command that takes a task: a bad --task-set value is refused, naming the field, before any work
TASK_COMMANDS = {
    "sample": ["sample", "countdown"],
    "verify": ["verify", "countdown", "--problem-json", PJ, "--completion", "1"],
    "data build": ["data", "build", "critique", "--n", "5", "--out", "{tmp}/d"],
    "probe": ["probe", "test", "--n", "2"],
    "train": ["train", "sft", "--base", "test", "--out", "{tmp}/t"],
    "pretrain": ["pretrain", "--out", "{tmp}/p"],
    "rerank": ["rerank", "{tmp}/no-such-checkpoint"],
}


@pytest.mark.parametrize("command", list(TASK_COMMANDS))
def test_task_set_reaches_the_task_on_every_command(command, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in TASK_COMMANDS[command]]
    r = run(*args, "--task-set", "n_numbers=12")
    assert r.exit_code == 2 and "n_numbers" in r.output and "Traceback" not in r.output, r.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_task_set_is_the_task_that_train_and_rerank_use(tmp_path, monkeypatch):
    import sparring.train
    import sparring.train.raro.rerank

    seen = {}

    def fake_train(method, base, task, config, out, budget, resume=False):
        from sparring.runcard import RunCard

        seen["train"] = task.config_dict()["n_numbers"]
        return RunCard(method, metrics={}).write(out)

    def fake_rerank(checkpoint, task, **kw):
        seen["rerank"] = task.config_dict()["n_numbers"]
        raise ValueError("stop here")

    monkeypatch.setattr(sparring.train, "train", fake_train)
    monkeypatch.setattr(sparring.train.raro.rerank, "rerank", fake_rerank)
    r = run("train", "sft", "--base", "test", "--out", str(tmp_path / "t"), "--task-set", "n_numbers=5")
    assert r.exit_code == 0, r.output
    r = run("rerank", str(tmp_path / "t"), "--task-set", "n_numbers=4")
    assert r.exit_code == 2 and "stop here" in r.output
    assert seen == {"train": 5, "rerank": 4}


WARNING = "warning: --set on 'sparring {}' sets task options and is deprecated; use --task-set"


def test_old_set_on_sample_still_sets_task_options_with_one_warning_line():
    for flag in ("--set", "-s"):
        r = run("sample", "countdown", flag, "n_numbers=5")
        assert r.exit_code == 0, r.output
        assert r.stderr.splitlines() == [WARNING.format("sample")]
        assert len(_numbers(r.stdout)) == 5


@pytest.mark.parametrize("command", ["probe", "sample", "verify", "data build"])
def test_old_set_warns_then_behaves_as_before(command, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in TASK_COMMANDS[command]]
    r = run(*args, "-s", "n_numbers=12")
    assert r.exit_code == 2 and "n_numbers" in r.output, r.output
    assert r.stderr.splitlines()[0] == WARNING.format(command)
    assert r.stderr.count("warning:") == 1
    assert "--set" not in run(*args[: 1 + (command == "data build")], "--help").output  # hidden


def test_pretraining_refuses_a_base(tmp_path):
    for args in (["train", "pretrain"], ["pretrain"]):
        r = run(*args, "--base", "zoo:countdown-base", "--out", str(tmp_path / "p"))
        assert r.exit_code == 2, r.output
        assert r.output.count("\n") == 1 and "fresh preset" in r.output and "--set preset=" in r.output
    assert not (tmp_path / "p").exists()
    r = run("train", "pretrain", "--out", str(tmp_path / "p"), "--set", "nope=1")  # no --base: no complaint
    assert r.exit_code == 2 and "unknown option" in r.output and "fresh preset" not in r.output


def test_data_build_writes_dataset_and_card(tmp_path):
    out = tmp_path / "crit"
    r = run("data", "build", "critique", "--task", "countdown", "--n", "50", "--out", str(out))
    assert r.exit_code == 0, r.output
    card = json.loads((out / "card.json").read_text())
    assert card["rows"] == 50 and sum(card["labels"].values()) == 50 and len(card["content_hash"]) >= 16
    r = run("data", "build", "critique", "--n", "50", "--out", str(out))
    assert r.exit_code == 2 and "exists" in r.output  # no silent overwrite
    r = run("data", "build", "critique", "--n", "50", "--out", str(out), "--overwrite")
    assert r.exit_code == 0
    r = run("data", "build", "nonsense", "--n", "5", "--out", str(tmp_path / "x"))
    assert r.exit_code == 2 and "nonsense" in r.output
    assert not (tmp_path / "x").exists()


# typer and rich are the command line's; the one library use of rich is the lab's progress bar
RICH_OUTSIDE_CLI = {"lab/runner.py": {"rich.console", "rich.progress"}}


def _third_party(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return {m for m in out if m.split(".")[0] in ("typer", "rich", "click")}


def test_only_the_cli_package_imports_typer_rich_or_the_cli():
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "cli" or rel.as_posix() == "__main__.py":
            continue
        bad = _third_party(path) - RICH_OUTSIDE_CLI.get(rel.as_posix(), set())
        bad |= {"sparring.cli"} & {f"sparring.{m}" for m in imported(path)}
        if bad:
            found[rel.as_posix()] = sorted(bad)
    assert not found, f"command-line imports outside sparring/cli/: {found}"
    assert not (SRC / "cli.py").exists() and (SRC / "cli" / "__init__.py").is_file()
