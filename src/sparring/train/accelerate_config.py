"""The accelerate launch configs sparring ships (``sparring/configs/accelerate/``) and the
choice of one: ``--accelerate-config NAME|PATH`` on ``sparring train``, ``accelerate_config``
of ``train()``.

- ``ddp``: plain data parallelism over NCCL (what ``--processes N`` uses on CUDA anyway).
- ``fsdp2``: FSDP2 (``fully_shard``), weights, gradients and optimizer state sharded.
- ``deepspeed_zero2`` / ``deepspeed_zero3``: DeepSpeed ZeRO-2 / ZeRO-3 (``pip install deepspeed``).

They are pass-throughs: ``accelerate launch --config_file FILE`` starts the ranks and sets
the environment (``ACCELERATE_USE_FSDP``, ``ACCELERATE_USE_DEEPSPEED``, ...) from which the
Trainer's accelerator builds its FSDP or DeepSpeed plugin; sparring changes nothing else.
A config is loaded with accelerate's own loader before anything starts, so a file accelerate
cannot read, a DeepSpeed config without deepspeed installed, or a GPU config on a machine
without CUDA is one ValueError naming the option. Which of these ran where: docs/scale.md.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ACCELERATE_DIR = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
SHIPPED = ("ddp", "fsdp2", "deepspeed_zero2", "deepspeed_zero3")
DEFAULT_GPU = "ddp"  # what --processes N launches on CUDA without --accelerate-config


def shipped_path(name: str) -> Path:
    return ACCELERATE_DIR / f"{name}.yaml"


def load(path: Path):
    """accelerate's own reading of a launch config (a ``ClusterConfig``)."""
    from accelerate.commands.config.config_args import load_config_from_file

    return load_config_from_file(str(path))


def resolve(choice: str | Path, what: str = "accelerate_config") -> Path:
    """The config file ``choice`` names (a shipped name or a path), checked: accelerate reads
    it, DeepSpeed is installed if it asks for DeepSpeed, CUDA is there if it is not a CPU
    config. ValueError naming ``what`` otherwise."""
    import torch

    if not isinstance(choice, (str, Path)) or not str(choice).strip():
        raise ValueError(f"{what}: a shipped config ({', '.join(SHIPPED)}) or a path, got {choice!r}")
    path = shipped_path(str(choice)) if str(choice) in SHIPPED else Path(choice).expanduser()
    if not path.is_file():
        raise ValueError(f"{what}: no such file {path}; shipped configs: {', '.join(SHIPPED)}")
    try:
        cfg = load(path)
    except Exception as err:  # accelerate's loader raises whatever the file provokes
        raise ValueError(f"{what}: accelerate cannot read {path}: {err}") from None
    kind = str(getattr(cfg.distributed_type, "value", cfg.distributed_type))
    if kind == "DEEPSPEED" and importlib.util.find_spec("deepspeed") is None:
        raise ValueError(f"{what}: {path.name} needs DeepSpeed, which is not installed here (pip install deepspeed)")
    if not cfg.use_cpu and not torch.cuda.is_available():
        raise ValueError(
            f"{what}: {path.name} is a GPU config ({kind}) and this machine has no CUDA; on a CPU, "
            "--processes N runs torchrun (and -s fsdp=true shards with FSDP2; docs/distributed.md)"
        )
    return path
