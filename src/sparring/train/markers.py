"""Completion markers of checkpoints: a JSON file written last into a checkpoint folder,
listing every file's size, so that a folder a kill left half-written is told from a complete
one. Step checkpoints (``resume.py``) and self-training round checkpoints
(``self_train_resume.py``) both read theirs with :func:`read_marker`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_marker(path: Path, name: str, fmt: str, field: str, expected: Any) -> tuple[dict, str | None]:
    """The completion marker ``path/name`` (JSON written last, listing every file's size)
    and why it does not vouch for a complete checkpoint (None: it does): missing or
    unreadable, not of format ``fmt``, naming another ``field`` than ``expected``, or a
    listed file missing or of another size. Shared by step and round checkpoints."""
    try:
        marker = json.loads((path / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"no {name} (written last): half-written"
    except (OSError, ValueError) as err:
        return {}, f"unreadable {name}: {err}"
    if not isinstance(marker, dict) or marker.get("format") != fmt or not isinstance(marker.get("files"), dict):
        return {}, f"{name} is not a {fmt} marker"
    if marker.get(field) != expected:
        return marker, f"{name} names {field} {marker.get(field)!r}"
    for file, size in marker["files"].items():
        f = path / file
        if not f.is_file():
            return marker, f"{file} is missing"
        if f.stat().st_size != size:
            return marker, f"{file} has {f.stat().st_size} bytes, {size} were written"
    return marker, None
