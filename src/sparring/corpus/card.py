"""Dataset cards and atomic saving.

Format choice: ``Dataset.save_to_disk`` (Arrow), not JSONL. It round-trips the exact
string schema, loads memory-mapped with ``datasets.load_from_disk`` without going through
the HF cache or type inference (``load_dataset("json")`` does both), and is what the
trainer consumes directly. For humans the directory also holds ``card.json`` (config,
counts per label, content hash) and ``sample.jsonl`` (the first 20 rows).

A saved corpus directory::

    out_dir/
      card.json  sample.jsonl  dataset_info.json  state.json  data-00000-of-00001.arrow
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset

from ..atomic import atomic_dir
from ..tasks.base import Task

CARD_FILE = "card.json"
SAMPLE_FILE = "sample.jsonl"
CARD_FORMAT = "sparring.corpus/2"  # /1 cards (64-hex content_hash) still load


def fingerprint(dataset: Any, columns: tuple[str, ...] = ("prompt", "completion")) -> str:
    """The one dataset fingerprint: sha256 (16 hex) of the rows over ``columns`` present, in
    order, as canonical JSON lines (what run.json's ``data.hash`` and the zoo cards record)."""
    h = hashlib.sha256()
    cols = [c for c in columns if c in dataset.column_names]
    h.update(json.dumps(cols).encode())
    batch = 4096
    for i in range(0, len(dataset), batch):
        part = dataset[i : i + batch]
        for row in zip(*(part[c] for c in cols)):
            h.update(json.dumps(row, sort_keys=True, default=str).encode())
            h.update(b"\n")
    return h.hexdigest()[:16]


def content_hash(dataset: Any) -> str:
    """A corpus card's ``content_hash``: the dataset ``fingerprint``."""
    return fingerprint(dataset)


def _content_hash_v1(dataset: Any) -> str:
    """The 64-hex hash cards of format ``sparring.corpus/1`` recorded (kept to read them)."""
    h = hashlib.sha256()
    for p, c in zip(dataset["prompt"], dataset["completion"]):
        h.update(json.dumps([p, c], ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _resolved_options(recipe: str, options: Any) -> dict[str, Any]:
    """The recipe's full options (defaults filled in) when the recipe is known."""
    if is_dataclass(options) and not isinstance(options, type):
        return asdict(options)
    options = dict(options or {})
    from . import OPTIONS  # late: the registry imports this module

    cls = OPTIONS.get(recipe)
    return asdict(cls.make(options)) if cls is not None else options


def is_dataset_path(recipe: str) -> bool:
    """Whether a ``recipe`` value names a saved dataset directory rather than a recipe
    (a path separator, a leading ``.`` or ``~``, or an existing directory): the one rule
    training and the lab's content keys both use."""
    return os.sep in recipe or "/" in recipe or recipe.startswith((".", "~")) or Path(recipe).is_dir()


def card(dataset: Dataset, recipe: str, task: Task, n: int, seed: int, options: Any = None) -> dict[str, Any]:
    """What the corpus is: recipe, task config, n, seed, resolved options, row count, counts
    per label, distinct problems, a content hash (see ``content_hash``) and, for LLM-teacher
    corpora, ``teacher``: the endpoints and the counts asked / kept / rejected / failed."""
    from .. import __version__
    from .teacher_critique import teacher_card

    labels = Counter(dataset["label"])
    teacher = teacher_card(dataset)
    return {
        "format": CARD_FORMAT,
        "recipe": recipe,
        "task": task.name,
        "task_config": json.loads(json.dumps(task.config_dict())),
        "n": n,
        "seed": seed,
        "options": json.loads(json.dumps(_resolved_options(recipe, options))),
        "rows": len(dataset),
        "labels": dict(sorted(labels.items())),
        "distinct_problems": len(set(dataset["problem_id"])),
        "columns": list(dataset.column_names),
        "content_hash": content_hash(dataset),
        "versions": {"sparring": __version__, "datasets": datasets.__version__},
        **({"teacher": teacher} if teacher else {}),
    }


def save(dataset: Dataset, out_dir: str | os.PathLike, card: dict[str, Any], overwrite: bool = False) -> Path:
    """Write the dataset, ``card.json`` and ``sample.jsonl`` to ``out_dir`` atomically.

    Everything is written into a temporary sibling directory which is then renamed into
    place (``sparring.atomic.atomic_dir``), so a reader never sees a half-written corpus.
    An existing ``out_dir`` raises ``ValueError`` unless ``overwrite``.
    """
    out = Path(out_dir).expanduser().absolute()
    if out.exists() and (not out.is_dir() or not overwrite):
        raise ValueError(f"out_dir: {out} already exists (pass overwrite=True to replace a directory)")
    if not isinstance(card, dict):
        raise ValueError("card: must be a dict (see sparring.corpus.card)")
    with atomic_dir(out) as tmp:
        dataset.save_to_disk(str(tmp))
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        with open(tmp / SAMPLE_FILE, "w", encoding="utf-8") as f:
            for row in dataset.select(range(min(20, len(dataset)))):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


def load(out_dir: str | os.PathLike) -> tuple[Dataset, dict[str, Any]]:
    """A saved corpus and its card; ``ValueError`` if the rows do not match the card's hash."""
    out = Path(out_dir)
    try:
        card_ = json.loads((out / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"out_dir: {out} has no readable {CARD_FILE}: {e}") from e
    ds = datasets.load_from_disk(str(out))
    legacy = card_.get("format") == "sparring.corpus/1"
    if (_content_hash_v1(ds) if legacy else content_hash(ds)) != card_.get("content_hash"):
        raise ValueError(f"content_hash: the rows in {out} do not match {CARD_FILE}")
    return ds, card_
