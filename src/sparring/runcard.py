"""The run card: what a checkpoint's ``run.json`` says about how it was made.

A plain helper at the bottom of the layers (json and the atomic writer only), so every
layer reads cards without loading torch; ``sparring.models`` re-exports it.

One type, :class:`RunCard`, with :meth:`RunCard.read` and :meth:`RunCard.write`; every
writer (train's methods, pipelines, pretraining) builds one and every reader (lab,
rerank, the CLI, pipelines resuming) gets one, so the file name and the schema live here
only. ``train()`` returns the card it wrote (``card.path`` is the checkpoint).

Schema ``sparring.run/2`` (``"format"`` in the file)::

    {"format", "method", "config" (resolved options), "budget", "base", "task",
     "data": {recipe, rows, hash, ...}, "versions", "metrics": {"train", "before",
     "after", ...}, "created", "argv", ...method-specific keys ("stages", ...)}

Cards written before the format field existed (``/1``: the same keys, no ``format``) and
zoo ``card.json`` files (``name``, ``preset``, ``command``; no ``method``: they are
pretraining cards) read as well; unknown keys are kept in ``extra`` and written back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparring.atomic import write_text_atomic

RUN_CARD = "run.json"
ZOO_CARD = "card.json"
FORMAT = "sparring.run/2"
READABLE = ("sparring.run/1", FORMAT)
_FIELDS = ("method", "config", "budget", "base", "task", "data", "versions", "metrics", "created", "argv")


@dataclass
class RunCard:
    """A checkpoint's card; ``path`` is the checkpoint directory (None before writing)."""

    method: str
    config: dict = field(default_factory=dict)
    budget: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)
    task: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    created: str = ""
    argv: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    path: Path | None = None
    format: str = FORMAT

    # ---- reading ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any, where: str = "run card") -> "RunCard":
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(d).__name__}")
        fmt = d.get("format", "sparring.run/1")
        if fmt not in READABLE:
            raise ValueError(f"{where}: format {fmt!r} is not one this sparring reads {list(READABLE)}")
        method = d.get("method", "pretrain" if "preset" in d else None)
        if not isinstance(method, str):
            raise ValueError(f"{where}: has no 'method'")
        kw = {k: d[k] for k in _FIELDS if k in d and d[k] is not None}
        kw["method"] = method
        if isinstance(kw.get("base"), str):  # the oldest cards named the base only
            kw["base"] = {"name": kw["base"]}
        extra = {k: v for k, v in d.items() if k not in _FIELDS and k != "format"}
        return cls(**kw, extra=extra, format=fmt)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "RunCard":
        """The card of a checkpoint directory (its ``run.json``, else its zoo
        ``card.json``) or of a card file. One ValueError for anything unreadable."""
        p = Path(path).expanduser()
        file = p
        if p.is_dir():
            file = p / RUN_CARD if (p / RUN_CARD).is_file() else p / ZOO_CARD
        try:
            d = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{file}: not a readable run card ({type(err).__name__}: {err})") from err
        card = cls.from_dict(d, str(file))
        card.path = (p if p.is_dir() else p.parent).absolute()
        return card

    # ---- writing ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": FORMAT, **self.extra}
        for k in _FIELDS:
            d[k] = getattr(self, k)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n"

    def write(self, directory: str | os.PathLike) -> "RunCard":
        """Write ``directory/run.json`` atomically; returns the card with its ``path``."""
        out = Path(directory).expanduser().absolute()
        write_text_atomic(out / RUN_CARD, self.to_json())
        self.path = out
        return self

    # ---- what readers ask ---------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """A top-level key of the card (fields first, then method-specific keys)."""
        if key in _FIELDS:
            return getattr(self, key)
        return self.extra.get(key, default)

    @property
    def base_name(self) -> str:
        return str(self.base.get("name", ""))
