"""Reading a local question/answer dataset for ``math``: JSON lines (``.jsonl``, or a
``.json`` array), Parquet (``.parquet``) or a ``datasets`` ``save_to_disk`` folder.

Column names come from the task options (``question_field``, ``answer_field``, and the
optional ``solution_field``, ``difficulty_field``, ``split_field``). Every check happens
here, once, before any work: an unreadable file, a missing question or answer column, or
a row without a question or answer is one ``ValueError`` naming the option or row. A
``DatasetDict`` folder's split names become the split column when ``split_field`` is
empty. Loaded rows are cached by (path, modification time, size, columns).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_ROWS = 200_000
MAX_QUESTION_CHARS = 8_000
MAX_ANSWER_CHARS = 400
MAX_SOLUTION_CHARS = 8_000
DICT_SPLIT = "__split__"  # the split column made from a DatasetDict's split names
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "eval": "test",
}

_CACHE: dict[tuple, list[dict]] = {}


def _read_raw(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, columns) of the file or folder; ValueError when it cannot be read."""
    try:
        if path.is_dir():
            import datasets

            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                rows = [{**r, DICT_SPLIT: name} for name, part in ds.items() for r in part]
                cols = sorted({c for part in ds.values() for c in part.column_names} | {DICT_SPLIT})
                return rows, cols
            return list(ds), list(ds.column_names)
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            return table.to_pylist(), list(table.column_names)
        if path.suffix in (".jsonl", ".json"):
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".json" and text.lstrip().startswith("["):
                rows = json.loads(text)
            else:
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not all(isinstance(r, dict) for r in rows):
                raise ValueError("every row must be a JSON object")
            return rows, sorted({k for r in rows for k in r})
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"math.path: cannot read {str(path)!r}: {str(err)[:200]}") from err
    except Exception as err:  # datasets / pyarrow raise their own error types on a bad file
        raise ValueError(f"math.path: cannot read {str(path)!r}: {type(err).__name__}: {str(err)[:200]}") from err
    raise ValueError(f"math.path: {str(path)!r} is not a .jsonl, .json or .parquet file nor a save_to_disk folder")


def _text(row: dict, field: str, i: int, limit: int, required: bool) -> str:
    v = row.get(field)
    if isinstance(v, bool) or (v is not None and not isinstance(v, (str, int, float))):
        raise ValueError(f"math dataset row {i}: {field!r} must be text or a number (got {type(v).__name__})")
    s = "" if v is None else str(v).strip()
    if required and not s:
        raise ValueError(f"math dataset row {i}: {field!r} is empty")
    if len(s) > limit:
        raise ValueError(f"math dataset row {i}: {field!r} is longer than {limit} characters")
    return s


def load_rows(path: str, question: str, answer: str, solution: str, difficulty: str, split: str) -> list[dict]:
    """The dataset's rows as ``{"question", "answer", "solution", "difficulty", "split"}``
    (missing optional columns: empty strings; ``split`` normalized by ``SPLIT_ALIASES``)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ValueError(f"math.path: {path!r} does not exist")
    stat = p.stat()
    key = (str(p.resolve()), stat.st_mtime_ns, stat.st_size, question, answer, solution, difficulty, split)
    if key in _CACHE:
        return _CACHE[key]
    rows, cols = _read_raw(p)
    if not rows:
        raise ValueError(f"math.path: {path!r} has no rows")
    if len(rows) > MAX_ROWS:
        raise ValueError(f"math.path: {path!r} has {len(rows)} rows; at most {MAX_ROWS}")
    split = split or (DICT_SPLIT if DICT_SPLIT in cols else "")
    for option, col in (("question_field", question), ("answer_field", answer), ("split_field", split)):
        if col and col not in cols:
            raise ValueError(f"math.{option}: column {col!r} is not in {path!r} (columns: {cols})")
    out = []
    for i, r in enumerate(rows):
        s = _text(r, split, i, 40, True) if split else ""
        if split and s.lower() not in SPLIT_ALIASES:
            raise ValueError(f"math dataset row {i}: split {s!r} is not one of {sorted(SPLIT_ALIASES)}")
        out.append(
            {
                "question": _text(r, question, i, MAX_QUESTION_CHARS, True),
                "answer": _text(r, answer, i, MAX_ANSWER_CHARS, True),
                "solution": _text(r, solution, i, MAX_SOLUTION_CHARS, False) if solution in cols else "",
                "difficulty": _text(r, difficulty, i, 40, False) if difficulty in cols else "",
                "split": SPLIT_ALIASES[s.lower()] if split else "",
            }
        )
    _CACHE[key] = out
    return out
