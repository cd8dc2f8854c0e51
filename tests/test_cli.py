"""The command line, as a user runs it (typer's runner, same process)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from sparring.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_help_everywhere():
    for args in ([], ["tasks"], ["sample"], ["verify"], ["data"], ["data", "build"]):
        r = run(*args, "--help")
        assert r.exit_code == 0, (args, r.output)
        assert "Usage" in r.output


def test_tasks_lists_three_tasks_with_capabilities_and_levels(monkeypatch):
    import sparring.cli

    monkeypatch.setattr(sparring.cli.console, "width", 200)  # one table row per line
    r = run("tasks")
    assert r.exit_code == 0
    for part in ("countdown", "arith", "linear", "wrong_answers", "ood-target: OOD: held-out targets",
                 "ood-both: OOD: x on both sides", "validation_permille=50"):
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
    pj = json.dumps({"numbers": [3, 7, 9], "target": 30})
    r = run("verify", "countdown", "--problem-json", pj, "--completion", "7*3=21\\n21+9=30")
    assert r.exit_code == 0 and "CORRECT" in r.output
    r = run("verify", "countdown", "--problem-json", pj, "--completion", "7*3=21\\n21*9=30")
    assert r.exit_code == 1 and "first error: step 2" in r.output


def test_verify_bad_problem_json_is_one_clear_error():
    r = run("verify", "countdown", "--problem-json", '{"numbers": "x", "target": 3}', "--completion", "1")
    assert r.exit_code == 2 and "numbers" in r.output and "Traceback" not in r.output


def test_bad_task_setting_names_the_field():
    r = run("sample", "countdown", "-s", "n_numbers=12")
    assert r.exit_code == 2 and "n_numbers" in r.output


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
