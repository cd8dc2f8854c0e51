"""A local LLM teacher to try ``--teacher`` with: train a small critic, serve it.

    .venv/bin/python bench/teacher_server.py --out runs/critic --port 8011
    # -> trains runs/critic from zoo:countdown-base, then runs `transformers serve` on
    #    127.0.0.1:8011 until Ctrl-C; use --teacher http://127.0.0.1:8011/v1
    #    --teacher-model <the absolute path it prints>

The critic is ``zoo:countdown-base`` fine-tuned (sparring's own ``sft``) on critique rows
whose prompts are exactly what the teacher client sends, rendered by the checkpoint's chat
template (each message's content + newline): the ``steps`` layout's system instruction,
then the published CFT prompt. Its target is the verdict only (``Conclusion: right|wrong
[END]``), which a few dozen steps teach; it judges poorly, so the verifier filter keeps
some critiques and rejects others. ``--no-system`` trains for requests sent with
``-o teacher_system='""'`` (rows ~3x shorter: what the tests use). The saved ``generation_config.json`` has
``do_sample: true``, since ``transformers serve`` samples only then (temperature > 0 is
otherwise ignored). tests/test_teacher.py uses ``train_critic`` and ``serve``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, log: str | os.PathLike | None = None) -> subprocess.Popen:
    """Start ``transformers serve`` on 127.0.0.1:``port`` (CPU, hub offline). No model is
    pinned: each request loads the model it names (a checkpoint directory) on first use."""
    exe = shutil.which("transformers", path=str(VENV_BIN)) or shutil.which("transformers")
    if exe is None:
        raise RuntimeError("`transformers` CLI not found: install the dev extras (transformers[serving])")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    out = open(log, "wb") if log else subprocess.DEVNULL
    cmd = [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--dtype", "float32"]
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 120.0) -> float:
    """Seconds until ``GET /health`` answers; ``RuntimeError`` if the server dies or times out."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"transformers serve did not answer on port {port} within {timeout:g} s")


def train_critic(
    out: str | os.PathLike, steps: int = 30, n: int = 400, seed: int = 0, system: str | None = None
) -> Path:
    """Fine-tune zoo:countdown-base into a (weak) verdict critic at ``out`` (see the module
    doc) for requests with system message ``system`` (the recipe option ``teacher_system``:
    None = the default instruction, "" = none, which makes rows ~3x shorter to train on)."""
    from transformers import AutoTokenizer, GenerationConfig

    from sparring.corpus import build, card, critique_messages, save
    from sparring.corpus.critique import CritiqueOptions
    from sparring.models import resolve_model_source
    from sparring.tasks import get_task
    from sparring.train import Budget, get_method, train

    task = get_task("countdown")
    tok = AutoTokenizer.from_pretrained(resolve_model_source("zoo:countdown-base")[1])
    opts = CritiqueOptions.make({} if system is None else {"teacher_system": system})
    rows = build("critique", task, n, seed)

    def served(row):
        marker = "\n\nSolution:\n"
        head, solution = row["prompt"].split(marker, 1)
        question = head.split("Question:\n", 1)[1]
        msgs = [{"role": r, "content": c} for r, c in critique_messages(opts, question, solution)]
        prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return {"prompt": prompt, "completion": row["completion"][row["completion"].index("Conclusion:") :]}

    rows = rows.map(served)
    data = Path(out).with_name(Path(out).name + ".data")
    save(rows, data, card(rows, "critique", task, n, seed, {}), overwrite=True)
    cfg = get_method("sft").config_cls.from_any(
        {
            "recipe": str(data),
            "batch_size": 8,
            "learning_rate": 5e-3,
            "warmup_steps": 2,
            "eval_problems": 0,
            "show_progress": False,
            "seed": seed,
        }
    )
    shutil.rmtree(out, ignore_errors=True)
    train("sft", "zoo:countdown-base", task, cfg, out, Budget.parse(f"{steps}steps"))
    gen = GenerationConfig.from_pretrained(out)
    gen.do_sample = True
    gen.save_pretrained(out)
    shutil.rmtree(data, ignore_errors=True)
    return Path(out).absolute()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/critic", help="checkpoint directory to write")
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--no-train", action="store_true", help="serve an existing --out")
    ap.add_argument("--no-system", action="store_true", help="train for requests without a system message")
    args = ap.parse_args()
    t0 = time.perf_counter()
    path = (
        Path(args.out).absolute()
        if args.no_train
        else train_critic(args.out, args.steps, system="" if args.no_system else None)
    )
    print(f"critic: {path} ({time.perf_counter() - t0:.1f} s)", flush=True)
    proc = serve(args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so `kill PID` stops the server too
    try:
        print(
            f"serving in {wait_healthy(proc, args.port):.1f} s: --teacher http://127.0.0.1:{args.port}/v1 "
            f"--teacher-model {path}",
            flush=True,
        )
        proc.wait()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
