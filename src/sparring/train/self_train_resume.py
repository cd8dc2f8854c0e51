"""Round checkpoints: ``self-train`` and ``critique-loop`` resume round by round.

A round (sample, critique, refine, SFT; ``self_train_rounds.py``) is the unit, as a stage
is a pipeline's: after each complete round the run writes ``OUT.resume/round-<r>/``
(``atomic_dir``: built aside, renamed into place) holding

- the round's weights and tokenizer, a plain transformers checkpoint (a LoRA run: the
  adapter, with ``run.json`` naming its base as every sparring adapter does);
- ``sparring-round.json``, written last: the run key (``resume.run_key``: method, options,
  budget, base, task, data hash), the round, the history entries and SFT log so far, the
  budget spent so far (steps, tokens, seconds, FLOPs and FLOPs by kind), whether a round
  has trained, the evaluation of the base (not redone), the Python / NumPy / torch RNG
  states at the round's end (what the next round starts from: a ``restart`` round's fresh
  LoRA adapter draws from them) and every other file's size.

``train(..., resume=True)`` continues after the newest complete round: it loads that
round's weights, history, spend and RNG states and runs the rounds after it (each
``restart`` round reloads the base itself); a different run's checkpoint is refused with
the options that differ (``resume.check_key``). The last two rounds are kept; the folder
is removed once ``OUT`` is written. Written unless ``checkpoint_every`` is ``off``; a
start without ``--resume`` removes an older folder.

Inside a round, ``checkpoint_every``'s interval checkpoints the round's SFT with
``resume.py``'s machinery, into ``OUT.resume/sft-<r>.resume/`` (removed once round r's
checkpoint is written). A resume into that round redoes its sampling (seeded: the same
rows on CPU) and continues the SFT from its newest complete checkpoint when the rows are
the ones it trained on (the data hash is part of its key); otherwise the SFT starts over,
with a warning. Without such a checkpoint a crash loses the round in flight.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from sparring.atomic import atomic_dir

from .budget import parse_every
from .markers import read_marker
from .resume import (
    Checkpoints,
    check_key,
    checkpoints,
    resume_dir,
    resume_wanted,
    rng_state,
    run_key,
    set_rng_state,
    warn,
)

PREFIX = "round-"
SFT = "sft-"  # sft-<r>.resume/: the resumable checkpoints inside round r's SFT
STATE = "sparring-round.json"
FORMAT = "sparring.rounds/1"
KEEP = 2


def round_of(path: Path) -> int | None:
    tail = path.name[len(PREFIX) :]
    return int(tail) if path.name.startswith(PREFIX) and tail.isdigit() else None


def round_dirs(root: Path) -> list[Path]:
    """The ``round-<r>`` directories under ``root``, newest first."""
    found = [p for p in root.iterdir() if p.is_dir() and round_of(p) is not None] if root.is_dir() else []
    return sorted(found, key=round_of, reverse=True)  # type: ignore[arg-type]


def _files(path: Path) -> dict[str, int]:
    return {str(f.relative_to(path)): f.stat().st_size for f in sorted(path.rglob("*")) if f.is_file()}


def problem(path: Path) -> str | None:
    """Why the round checkpoint at ``path`` cannot be resumed from (None: it is complete)."""
    return read_marker(path, STATE, FORMAT, "round", round_of(path))[1]


def rng_states() -> dict[str, Any]:
    """The process's Python, NumPy and torch (CPU, and CUDA when in use) RNG states as JSON."""
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    out: dict[str, Any] = {
        "python": rng_state(random),
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return out


def set_rng_states(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    set_rng_state(random, state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


class RoundCheckpoints:
    """One self-training run's round checkpoints (module doc): which round to continue
    after, what it saved, and writing the next."""

    def __init__(self, method: str, cfg, budget, base: str, task, data: dict, out: Path):
        self.root = resume_dir(out)
        self.key = run_key(method, cfg, budget, base, task, data)
        self.what = method
        self.every = cfg.checkpoint_every  # off: no round checkpoints either
        self.on = parse_every(self.every) is not None
        self.start: Path | None = None
        self.state: dict[str, Any] = {}
        self.resuming = resume_wanted()
        if self.resuming:
            self.start = self._last_complete()
            if self.start is None:
                warn(f"{method}: --resume: no complete round checkpoint in {self.root}; starting from round 1")
            else:
                self.state = json.loads((self.start / STATE).read_text(encoding="utf-8"))
                check_key(self.state.get("key", {}), self.key, self.start, method)
                print(f"{method}: resuming after round {self.round} ({self.start})", file=sys.stderr, flush=True)
        elif self.on and self.root.exists():
            if round_dirs(self.root):
                warn(f"{method}: starting over; removing the round checkpoints of an earlier run in {self.root}")
            shutil.rmtree(self.root)  # a fresh start: an older run's rounds must not be resumed into
        if self.on and self.root.is_dir():  # what a killed process was writing (atomic_dir's hidden folders)
            for leftover in self.root.glob(f".{PREFIX}*"):
                shutil.rmtree(leftover, ignore_errors=True)
            self._drop_sft(self.round)

    def _last_complete(self) -> Path | None:
        for path in round_dirs(self.root):
            why = problem(path)
            if why is None:
                return path
            warn(f"resume: skipping {path}: {why}; trying the previous round")
        return None

    @property
    def round(self) -> int:
        """The last round already done (0: a fresh start)."""
        return 0 if self.start is None else int(self.state["round"])

    def weights(self, base: str) -> str:
        """What the run loads first: the round resumed from (the rounds after it reload the
        base themselves when ``restart``), else the base."""
        return base if self.start is None else str(self.start)

    def saved_or(self, key: str, compute):
        return self.state[key] if self.start is not None else compute()

    def restore_rng(self) -> None:
        """The RNG states of the round resumed from (the next round starts where it left off)."""
        if self.start is not None:
            set_rng_states(self.state["rng"])

    def sft(self, r: int, cfg, budget, base: str, task, data_hash: str) -> Checkpoints:
        """The resumable checkpoints inside round ``r``'s SFT (``checkpoint_every``'s
        interval; ``resume.py``): ``OUT.resume/sft-<r>.resume/``. The round resumed into
        continues its SFT from the newest complete one when its rows are the ones that SFT
        trained on (the round's sampling redone gave the same data); else it starts over."""
        out = self.root / f"{SFT}{r}"
        key = {**run_key(self.what, cfg, budget, base, task, {"hash": data_hash}), "round": r}
        what = f"{self.what} round {r}"
        resume = self.resuming and r == self.round + 1 and bool(checkpoints(resume_dir(out)))
        try:
            return Checkpoints(out, self.every, key, resume=resume, what=what)
        except ValueError as err:  # rows of another sampling: this SFT's checkpoints do not apply
            warn(f"{what}: its SFT starts over ({err})")
            return Checkpoints(out, self.every, key, resume=False, what=what)

    def _drop_sft(self, upto: int) -> None:
        """Remove the SFT checkpoints of rounds up to ``upto`` (their round checkpoint is written)."""
        for path in self.root.glob(f"{SFT}*.resume"):
            n = path.name[len(SFT) : -len(".resume")]
            if n.isdigit() and int(n) <= upto:
                shutil.rmtree(path, ignore_errors=True)

    def save(self, r: int, model, tok, base: str, state: dict[str, Any]) -> None:
        """Write round ``r``'s checkpoint (weights, ``state``, RNG states) in one rename;
        keep the newest ``KEEP``."""
        if not self.on:
            return
        from sparring.runcard import RUN_CARD

        from .common import lora_base
        from .lora import is_adapter

        final = self.root / f"{PREFIX}{r}"
        with atomic_dir(final) as tmp:
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            if is_adapter(model):  # the adapter's base, where loading it looks (adapters.adapter_base)
                (tmp / RUN_CARD).write_text(json.dumps({"lora_base": lora_base(base)}), encoding="utf-8")
            full = {"format": FORMAT, "key": self.key, "round": r, "rng": rng_states(), **state}
            full.update(files=_files(tmp), written=time.time())
            (tmp / STATE).write_text(json.dumps(full, default=str), encoding="utf-8")
        for old in round_dirs(self.root)[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)
        self._drop_sft(r)

    def done(self) -> None:
        """``OUT`` is written: the round checkpoints are no longer needed."""
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
