"""Data-parallel training: one run over N processes (ranks), each on its share of every batch.

How a run becomes N ranks (docs/distributed.md):

- ``sparring train ... --processes N`` / ``train(..., processes=N)`` / a lab spec's
  ``processes: N`` start ``sparring train`` again under a launcher (:func:`launch_command`):
  on a CPU ``torch.distributed.run`` (torchrun's module; ranks talk over gloo), on CUDA
  ``accelerate launch`` with a shipped config (``sparring/configs/accelerate/ddp.yaml``,
  multi-GPU DDP, NCCL; ``--accelerate-config fsdp2|deepspeed_zero2|...|PATH`` picks another,
  ``accelerate_config.py``). ``torchrun --nproc_per_node N -m sparring train ...`` or
  ``accelerate launch --num_processes N -m sparring train ...`` by hand do the same: every
  rank reads ``WORLD_SIZE`` / ``RANK`` from its environment (:func:`world_size`, :func:`rank`).
- Batch sizes in a config are *global* (rows per optimizer step over all ranks): each rank
  takes ``batch / N`` (a batch that does not split evenly is a ValueError before training),
  so ``--processes`` changes how fast a run is, not what it computes (SFT's loss curve is
  one process's to float rounding; tests/test_distributed.py).
- One rank decides, all follow: rank 0 alone evaluates, writes the checkpoint, its
  run.json and the resumable checkpoints' sparring state; the others wait at a barrier and
  return the card rank 0 wrote. Budgets are global (``callbacks.BudgetTracker.sync``).

The collectives here are no-ops in one process, so every method calls them unconditionally.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

GPU_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "accelerate" / "ddp.yaml"
THREADS_ENV = "SPARRING_THREADS"


class LaunchError(RuntimeError):
    """The ranks a launcher started failed (their own output says why)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def world_size() -> int:
    """How many ranks this run has (1 outside a launcher)."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return _env_int("WORLD_SIZE", 1)


def rank() -> int:
    """This process's rank (0 outside a launcher)."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank()
    except ImportError:  # pragma: no cover
        pass
    return _env_int("RANK", 0)


def is_main() -> bool:
    return rank() == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        return default


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``).
    torchrun starts each rank in its own session, so a ``kill -9`` of the launcher would
    otherwise leave the ranks training on, orphaned. Elsewhere: nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def init() -> None:
    """Join the launcher's process group (env:// rendezvous) before anything else needs it:
    gloo on CPU, NCCL on CUDA. accelerate, which the Trainer uses, finds it initialised.
    A rank dies with its launcher (:func:`die_with_parent`)."""
    if _env_int("WORLD_SIZE", 1) <= 1:
        return
    die_with_parent()
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        dist.barrier()


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj`` in rank order (a picklable object; ``[obj]`` in one process)."""
    if world_size() <= 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def average_gradients(params, weight: float = 1.0) -> None:
    """All-reduce the gradients of ``params`` (parameters a Trainer does not wrap, e.g.
    RARO's separate critic): each rank's gradient times ``weight`` (its share of the
    global loss), summed over ranks. A parameter without a gradient contributes zeros, so
    a rank with nothing to train still joins the collective (no hang)."""
    if world_size() <= 1:
        return
    import torch
    import torch.distributed as dist

    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        p.grad.mul_(weight)
        dist.all_reduce(p.grad)


def rank_file(name: str) -> str:
    """A per-rank state file's name: ``name`` on rank 0 (what one process always wrote),
    ``stem-rankR.ext`` on rank R."""
    r = rank()
    if r == 0:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-rank{r}{dot}{ext}" if dot else f"{name}-rank{r}"


def rank_seed(seed) -> str | int:
    """A random generator's seed for this rank: ``seed`` itself on rank 0 (one process's
    draws unchanged), a distinct one on every other rank (independent draws on its rows)."""
    r = rank()
    return seed if r == 0 else f"{seed}|rank{r}"


def check_processes(processes: Any) -> int:
    if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
        raise ValueError(f"processes: must be a positive integer, got {processes!r}")
    if processes > 1 and world_size() > 1:
        raise ValueError(
            f"processes: this process is already rank {rank()} of {world_size()} "
            "(started by torchrun/accelerate); drop --processes"
        )
    return processes


def per_rank(total: int, what: str) -> int:
    """A global per-step count split over the ranks; ValueError if it does not split evenly."""
    n = world_size()
    if total % n:
        raise ValueError(f"{what}: {total} does not split over {n} processes; use a multiple of {n}")
    return total // n


SPLIT_FIELDS = ("batch_size", "prompts_per_step")  # the global per-step counts each rank takes a share of


def split_over(cfg, processes: int) -> None:
    """ValueError naming the option if a global per-step count of ``cfg`` (a pipeline: of
    each stage) does not split over ``processes`` ranks (checked before any training)."""
    stages = cfg.stage_plans() if hasattr(cfg, "stage_plans") else [(None, cfg, None)]
    for _, stage, _ in stages:
        for name in SPLIT_FIELDS:
            v = getattr(stage, name, None)
            if isinstance(v, int) and v > 0 and v % processes:
                raise ValueError(
                    f"{stage.method_name}.{name}: {v} does not split over {processes} processes; "
                    f"use a multiple of {processes}"
                )


def launch_command(processes: int, args: list[str], accelerate_config: Path | None = None) -> list[str]:
    """The command that runs ``python -m sparring ARGS`` as ``processes`` ranks: torchrun's
    module on a CPU (gloo), ``accelerate launch`` with the shipped multi-GPU config on CUDA,
    or with ``accelerate_config`` (a checked file, ``accelerate_config.resolve``) when given."""
    import torch

    if accelerate_config is not None or torch.cuda.is_available():
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(accelerate_config or GPU_CONFIG),
            "--num_processes",
            str(processes),
            "-m",
            "sparring",
            *args,
        ]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] + [
        "-m",
        "sparring",
        *args,
    ]


def launch_env(processes: int) -> dict[str, str]:
    """The ranks' environment: the CPU cores split among them (``SPARRING_THREADS``, unless set)."""
    env = dict(os.environ)
    if THREADS_ENV not in env:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        env[THREADS_ENV] = str(max(1, cores // processes))
    env.setdefault("OMP_NUM_THREADS", env[THREADS_ENV])  # torchrun would set 1
    return env


def train_args(method: str, base: str, task, config_file: Path, out: Path, budget, resume: bool) -> list[str]:
    """``sparring train`` arguments for a run given as parsed values (task config as JSON)."""
    import json

    args = ["train", method, "--base", str(base), "--task", task.name, "--budget", budget.text()]
    for key, value in task.config_dict().items():
        args += ["--task-set", f"{key}={json.dumps(value)}"]
    args += ["--config", str(config_file), "--out", str(out)]
    return args + (["--resume"] if resume else [])


def train_in_processes(
    processes: int, method: str, base: str, task, cfg, out: Path, budget, resume: bool, accelerate_config=None
):
    """Run one training as ``processes`` ranks (a child launcher; ``accelerate launch`` with
    ``accelerate_config`` when given) and return the card rank 0 wrote. The config goes
    through a JSON file; the ranks' output is this process's."""
    import json

    from sparring.runcard import RunCard

    with tempfile.TemporaryDirectory(prefix="sparring-launch-") as tmp:
        config_file = Path(tmp) / "config.json"
        config_file.write_text(json.dumps(cfg.to_dict(), default=str), encoding="utf-8")
        args = train_args(method, base, task, config_file, out, budget, resume)
        cmd = launch_command(processes, args, accelerate_config)
        rc = subprocess.run(cmd, env=launch_env(processes), preexec_fn=die_with_parent).returncode
    if rc != 0:
        raise LaunchError(f"{method}: the {processes} training processes failed (exit code {rc}); see above", rc)
    return RunCard.read(out)
