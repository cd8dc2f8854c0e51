"""Training methods, each a config dataclass + a function run through TRL's trainers.

    from sparring.train import train, Budget
    ckpt = train("sft", base="zoo:countdown-base", task="countdown",
                 config={"recipe": "imitation"}, out_dir="runs/sft", budget="300s")

Every method has the signature ``fn(base, task, config, out_dir, budget) -> RunCard``
(``sparring.models.RunCard``: run.json as a typed object, ``card.path`` the checkpoint):

- ``base``: a preset (``tiny``), ``zoo:NAME`` or a checkpoint directory;
- ``task``: a task name or ``Task``;
- ``config``: the method's options (dataclass, dict, YAML/JSON path or None);
- ``out_dir``: where the checkpoint goes (``save_pretrained`` dir + ``run.json``,
  written aside and renamed into place);
- ``budget``: ``Budget`` or text: ``"300s"``, ``"200steps"``, ``"2Mtokens"``, ``"2e13flops"``
  (FLOPs by the one rule of ``flops.py``, docs/flops.md).

Methods: ``sft`` (any recipe), ``cft``, ``one-shot-cft``, ``grpo``, ``grpo-roc``, ``srl``,
``self-train``, ``critique-loop``, ``confidence-shaping``, ``self-eval``, ``pipeline``. ``METHODS[name].config_cls.options()`` lists each method's options.
"""

from __future__ import annotations

from typing import Any

from . import confidence as _confidence  # noqa: F401  (registers confidence-shaping)
from . import grpo as _grpo  # noqa: F401  (registers grpo)
from . import pipeline as _pipeline  # noqa: F401
from . import pretrain as _pretrain  # noqa: F401
from . import raro as _raro  # noqa: F401  (registers raro)
from . import roc as _roc  # noqa: F401
from . import self_eval as _self_eval  # noqa: F401  (registers self-eval)
from . import self_train as _self_train  # noqa: F401  (registers self-train, critique-loop)
from . import sft as _sft  # noqa: F401
from . import srl as _srl  # noqa: F401
from .budget import Budget
from .config import MethodConfig
from .pretrain import pretrain
from .registry import METHODS, Method, get_method, register_method
from .variants import ADVANTAGES, LOSSES, register_advantage, register_loss


def train(
    method: str,
    base: Any,
    task: Any,
    config: Any = None,
    out_dir: Any = None,
    budget: Any = None,
    *,
    resume: bool = False,
    processes: int = 1,
    accelerate_config: Any = None,
):
    """Run ``method``; returns the checkpoint's :class:`~sparring.models.RunCard`
    (``card.path`` is the directory, ``card.metrics`` what run.json holds). Bad input
    raises ValueError before anything trains. ``resume``: continue from the last complete
    checkpoint the same run wrote with ``checkpoint_every`` (in ``OUT.resume/``;
    docs/resume.md), or start from step 0 with a warning when there is none. ``processes``:
    train data-parallel over that many ranks (child processes started through torchrun on
    a CPU, ``accelerate launch`` on GPUs; docs/distributed.md); a process that a launcher
    already started as one of several ranks (``WORLD_SIZE``) joins its group instead.
    ``accelerate_config``: launch the ranks (even one) with ``accelerate launch`` and this
    config: a shipped one (``ddp``, ``fsdp2``, ``deepspeed_zero2``, ``deepspeed_zero3``) or a
    path (``accelerate_config.py``; docs/scale.md)."""
    m = get_method(method)
    if out_dir is None:
        raise ValueError("out_dir: required (where the checkpoint is written)")
    if budget is None:
        raise ValueError("budget: required, e.g. '300s', '200steps' or '2Mtokens'")
    from .common import as_card, check_base, check_out_dir, resolve_task, with_style

    # parsed and validated once, here; the method gets typed values (and no model loads before)
    b, t = Budget.parse(budget), resolve_task(task)
    cfg = config if isinstance(config, m.config_cls) else m.config_cls.from_any(config)
    cfg.check_task(t)
    check_base(base)
    cfg = with_style(cfg, base, t)
    if not isinstance(resume, bool):
        raise ValueError(f"resume: must be true or false, got {resume!r}")
    asked = cfg.checkpoint_every not in (None, "auto", "off")  # auto: whenever the method can
    if (resume or asked) and not m.resumable:
        can = ", ".join(sorted(k for k, v in METHODS.items() if v.resumable))
        raise ValueError(
            f"{'resume' if resume else 'checkpoint_every'}: {method} does not write resumable checkpoints yet ({can} do)"
        )
    from . import distributed
    from .resume import resume_requested

    launcher = None
    if accelerate_config is not None:
        from .accelerate_config import resolve

        launcher = resolve(accelerate_config)
        if distributed.world_size() > 1:
            raise ValueError("accelerate_config: this process is already one of several ranks; drop it")
    if distributed.check_processes(processes) > 1 or launcher is not None:
        distributed.split_over(cfg, processes)
        out = check_out_dir(out_dir)
        return distributed.train_in_processes(processes, method, str(base), t, cfg, out, b, resume, launcher)
    distributed.init()  # several ranks (torchrun / accelerate launch): join the process group
    with resume_requested(resume):
        return as_card(m.run(str(base), t, cfg, check_out_dir(out_dir), b))


__all__ = [
    "ADVANTAGES",
    "Budget",
    "LOSSES",
    "METHODS",
    "Method",
    "MethodConfig",
    "get_method",
    "pretrain",
    "register_advantage",
    "register_loss",
    "register_method",
    "train",
]
