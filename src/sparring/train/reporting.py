"""Training logs people can watch: TRL's ``report_to`` (``--report-to`` on ``sparring train``,
the ``report_to`` option of every method).

``tensorboard`` is installed with sparring and works offline: the event files go to the
option ``log_dir`` (empty: ``OUT.tensorboard/`` beside the checkpoint ``OUT``), written by
rank 0 only (transformers' callback), live while training runs: ``tensorboard --logdir
OUT.tensorboard``. ``wandb`` and ``trackio`` are the users' to install and configure
(login, project); asking for one that is not installed is a ValueError before training.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# report_to value -> the module transformers' callback imports (None: nothing to log to)
REPORTERS: dict[str, str | None] = {"none": None, "tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}
LOG_SUFFIX = ".tensorboard"


def check_report_to(value, what: str = "report_to") -> str:
    """``value`` if it names a reporter whose package is installed; else one ValueError."""
    if not isinstance(value, str) or value not in REPORTERS:
        raise ValueError(f"{what}: must be one of {', '.join(REPORTERS)}, got {value!r}")
    module = REPORTERS[value]
    if module is not None and importlib.util.find_spec(module) is None:
        raise ValueError(
            f"{what}: {value} is not installed in this environment (pip install {value}); "
            "sparring ships tensorboard only"
        )
    return value


def log_dir(cfg, out: Path) -> Path:
    """Where TensorBoard writes for a run writing ``out``."""
    return Path(cfg.log_dir).expanduser() if cfg.log_dir else Path(out).with_name(Path(out).name + LOG_SUFFIX)


def attach_logging(trainer, cfg, out: Path) -> None:
    """Point transformers' TensorBoard callback (present when ``report_to`` is tensorboard)
    at :func:`log_dir` (its default is inside the Trainer's throwaway output_dir)."""
    if cfg.report_to != "tensorboard":
        return
    from transformers.integrations import TensorBoardCallback

    for cb in trainer.callback_handler.callbacks:
        if isinstance(cb, TensorBoardCallback):
            cb.logging_dir = str(log_dir(cfg, out))
