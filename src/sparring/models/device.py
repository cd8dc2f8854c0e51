"""Device and precision defaults that are fast on the machine at hand.

Why this exists: TRL's trainer configs default to ``bf16=True`` (mixed precision) and
``gradient_checkpointing=True``. On a CPU both make training of a small model slower:
7x to 24x on the 1M-parameter preset on the CPU first measured (2026-11-23), 1.4x (SFT)
and 2.7x (GRPO) on one with native bfloat16 (AMX-BF16), where bf16 autocast alone still
costs ~1.25x (docs/benchmarks.md). :func:`device_defaults` picks
settings per device, and :func:`trl_args_overrides` turns them into keyword arguments
for ``transformers.TrainingArguments`` / ``trl.SFTConfig`` / ``trl.GRPOConfig``.

Two kinds of precision are kept apart:

- ``DeviceDefaults.dtype`` is the dtype to hold weights in for *inference* (probes,
  generation): float32 on CPU, bfloat16 on CUDA when supported, else float16.
- ``bf16`` / ``fp16`` are the *training* mixed-precision flags: weights and optimizer
  state stay float32, matmuls run under autocast. Load a model to be trained in
  float32 (``load_model(..., dtype=None)`` keeps the checkpoint's float32).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

THREADS_ENV = "SPARRING_THREADS"
# Above this size activation checkpointing is worth its ~20% slowdown on a GPU.
_CHECKPOINTING_MIN_PARAMS = 1_000_000_000


@dataclass(frozen=True)
class DeviceDefaults:
    """Settings resolved for one device.

    Attributes:
        device: torch device string: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        dtype: dtype for inference weights (see module docstring).
        bf16: train with bfloat16 autocast (CUDA with bf16 support only).
        fp16: train with float16 autocast + loss scaling (CUDA without bf16).
        gradient_checkpointing: recompute activations in the backward pass. False on
            CPU/MPS; on CUDA True unless the model is known to be < 1B parameters.
        use_cpu: tell transformers/accelerate not to look for an accelerator.
    """

    device: str
    dtype: torch.dtype
    bf16: bool
    fp16: bool
    gradient_checkpointing: bool
    use_cpu: bool

    @property
    def is_cpu(self) -> bool:
        return self.use_cpu

    def configure_threads(self) -> int | None:
        """Set torch's intra-op thread count; see :func:`configure_threads`."""
        return configure_threads(self)


def _available_cores() -> int:
    """Cores this process may run on (CPU affinity, which respects ``taskset`` and
    container cpusets; falls back to ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} requested but MPS is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    return dev


def device_defaults(device: str | torch.device | None = None, *, n_params: int | None = None) -> DeviceDefaults:
    """Resolve fast defaults for ``device`` (``None``: CUDA if available, else CPU).

    Args:
        device: where to run. Raises ``ValueError`` if it names an unavailable backend.
        n_params: model size, if known; on CUDA, models under 1B parameters get
            ``gradient_checkpointing=False`` (it only costs time for them).
    """
    dev = _resolve_device(device)
    name = str(dev)
    if dev.type == "cpu":
        return DeviceDefaults(name, torch.float32, False, False, False, True)
    if dev.type == "mps":
        return DeviceDefaults(name, torch.float32, False, False, False, False)
    bf16_ok = torch.cuda.is_bf16_supported()
    checkpointing = n_params is None or n_params >= _CHECKPOINTING_MIN_PARAMS
    return DeviceDefaults(
        device=name,
        dtype=torch.bfloat16 if bf16_ok else torch.float16,
        bf16=bf16_ok,
        fp16=not bf16_ok,
        gradient_checkpointing=checkpointing,
        use_cpu=False,
    )


def configure_threads(dd: DeviceDefaults | None = None) -> int | None:
    """Set ``torch.set_num_threads`` and return the number set.

    If the environment variable ``SPARRING_THREADS`` is set (a positive integer) it is
    used on any device. Otherwise, on CPU, all cores available to this process are
    used; on an accelerator nothing is changed and ``None`` is returned.
    """
    raw = os.environ.get(THREADS_ENV)
    if raw is not None and raw.strip() != "":
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    else:
        dd = dd if dd is not None else device_defaults()
        if not dd.use_cpu:
            return None
        n = _available_cores()
    torch.set_num_threads(n)
    return n


def trl_args_overrides(dd: DeviceDefaults | None = None) -> dict:
    """Keyword arguments for ``TrainingArguments`` / ``SFTConfig`` / ``GRPOConfig``.

    All names exist in transformers 5.23 ``TrainingArguments`` (TRL configs subclass it).
    ``activation_checkpointing`` is the transformers-5 name; the old
    ``gradient_checkpointing`` is a deprecated alias (TRL defaults it to True, and
    passing it emits a FutureWarning). Setting the new name also sets the old one, so
    TRL code reading ``args.gradient_checkpointing`` sees the same value.
    """
    dd = dd if dd is not None else device_defaults()
    return {
        "use_cpu": dd.use_cpu,
        "bf16": dd.bf16,
        "fp16": dd.fp16,
        "activation_checkpointing": dd.gradient_checkpointing,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": not dd.use_cpu,
        "report_to": "none",
    }
