"""The one way sparring writes anything a reader may see: aside, then renamed into place.

``atomic_dir`` builds a directory (a checkpoint, a corpus, a report) next to its final
place and moves it in with one rename; ``write_text_atomic`` does the same for one file.
A reader never sees a half-written result, and a failure leaves the old one as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


def _sibling(out: Path, tag: str) -> Path:
    """Create an empty hidden directory next to ``out`` (mode from the umask, unlike
    ``tempfile.mkdtemp`` which would leave the final checkpoint readable by owner only)."""
    for _ in range(100):
        path = out.parent / f".{out.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a temporary directory next to {out}")


@contextlib.contextmanager
def atomic_dir(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Build a directory out of sight, then move it to ``out_dir`` in one step.

    Yields a fresh temporary directory next to ``out_dir`` (same filesystem, so the
    final ``os.rename`` is atomic). If the block raises, the temporary directory is
    deleted and ``out_dir`` is left exactly as it was. If it succeeds, an existing
    ``out_dir`` is first renamed aside, the new one renamed into place, and only then
    the old one deleted; should the second rename fail, the old one is put back.
    A reader never sees a half-written directory; when replacing, there is a moment
    between the two renames in which ``out_dir`` does not exist (POSIX cannot rename a
    directory over a non-empty one).
    """
    out = Path(out_dir).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir exists and is not a directory: {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(out, "tmp")
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old: Path | None = None
    try:
        if out.exists():
            old = _sibling(out, "old")
            os.rename(out, old / "d")
        os.rename(tmp, out)
    except BaseException:
        if old is not None and (old / "d").exists() and not out.exists():
            os.rename(old / "d", out)
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a hidden sibling file and one ``os.replace``."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
