"""vLLM rollouts for the GRPO family (``grpo``, ``grpo-roc``, ``srl``): a pass-through to TRL.

``--set use_vllm=true`` hands the rollouts of a GRPO-family run to TRL's own vLLM
integration (``GRPOConfig(use_vllm=True, vllm_mode=...)``; TRL then generates with vLLM
instead of ``model.generate`` and syncs the policy's weights into vLLM every step). The
options below are TRL's, with TRL's names and defaults, passed on unchanged by
:func:`vllm_args`; sparring adds nothing to what TRL does with them:

- ``vllm_mode: colocate``: vLLM runs inside the training process on the same GPU, taking
  ``vllm_gpu_memory_utilization`` of its memory.
- ``vllm_mode: server``: rollouts come from a separate ``trl vllm-serve --model BASE``
  process (``vllm_server_base_url``, or ``vllm_server_host`` and ``vllm_server_port``).

vLLM needs CUDA and the ``vllm`` package (``pip install 'sparring[vllm]'``; TRL 1.16 takes
vLLM 0.22 to 0.31): asking for it where either is missing is one ValueError when the config
is validated, before any model loads. Not run on a GPU in this project (docs/scale.md).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, fields

from .config import MethodConfig, opt

VLLM_MODES = ("colocate", "server")


@dataclass
class VLLMOptions(MethodConfig):
    use_vllm: bool = opt(
        False, "Generate rollouts with vLLM through TRL (CUDA and `pip install 'sparring[vllm]'`; docs/scale.md)."
    )
    vllm_mode: str = opt("colocate", "colocate (vLLM in the training process, same GPU) or server (trl vllm-serve).")
    vllm_server_base_url: str | None = opt(
        None, "vllm_mode server: the server's URL, e.g. http://host:8000 (set: host and port are ignored)."
    )
    vllm_server_host: str = opt("0.0.0.0", "vllm_mode server: the server's host.")
    vllm_server_port: int = opt(8000, "vllm_mode server: the server's port.")
    vllm_server_timeout: float = opt(240.0, "vllm_mode server: seconds to wait for the server to come up.")
    vllm_gpu_memory_utilization: float = opt(0.3, "vllm_mode colocate: the share of GPU memory vLLM takes.")

    def validate(self) -> None:
        super().validate()
        self.check_bool("use_vllm")
        self.check_choice("vllm_mode", VLLM_MODES)
        if self.vllm_server_base_url is not None and not isinstance(self.vllm_server_base_url, str):
            raise self._err("vllm_server_base_url", "must be a URL like http://host:8000, or null")
        if not isinstance(self.vllm_server_host, str) or not self.vllm_server_host:
            raise self._err("vllm_server_host", "must be a host name or address")
        self.check_int("vllm_server_port", lo=1, hi=65535)
        self.check_float("vllm_server_timeout", lo=0.0, lo_open=True)
        self.check_float("vllm_gpu_memory_utilization", lo=0.0, hi=1.0, lo_open=True)
        if self.use_vllm:
            problem = vllm_unavailable(self.device)
            if problem:
                raise self._err("use_vllm", problem)


def vllm_unavailable(device: str | None = None) -> str | None:
    """Why vLLM rollouts cannot run here (None: they can): no CUDA, or no vllm package."""
    import torch

    if device is not None and not str(device).startswith("cuda"):
        return f"vLLM rollouts need a CUDA GPU, and this run's device is {device}"
    if not torch.cuda.is_available():
        return "vLLM rollouts need a CUDA GPU, and this machine has none"
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed in this environment (pip install 'sparring[vllm]')"
    return None


def vllm_args(cfg) -> dict:
    """The ``GRPOConfig`` keyword arguments for ``cfg``'s vLLM options (TRL's names); empty
    for a config without them or with ``use_vllm`` off, so TRL's defaults stand."""
    if not getattr(cfg, "use_vllm", False):
        return {}
    return {f.name: getattr(cfg, f.name) for f in fields(VLLMOptions) if f.name.startswith(("use_vllm", "vllm_"))}
