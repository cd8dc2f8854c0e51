"""Content fingerprints: what a model (or a saved dataset) *is*, not what it is called.

The lab keys its results by these (``sparring.lab.spec``), so re-shipped or retrained
weights behind the same name or path are noticed.

- A preset (``test``, ``tiny``, ``small``: random weights, seed 0): its name, its
  ``Preset`` shape, the initialisation seed and the tokenizer's vocabulary.
- A model directory (``zoo:NAME`` or a ``save_pretrained`` directory): the bytes of its
  weights (``*.safetensors``, ``pytorch_model*.bin``, shard indexes), its ``config.json``,
  ``generation_config.json``, ``adapter_config.json``, and its tokenizer files
  (``tokenizer.json``, ``tokenizer_config.json``, the chat template, vocab/merges/
  sentencepiece files). Cards and logs (``run.json``, ``card.json``, TensorBoard files)
  are not content and are left out; subdirectories too.
- Any directory (a saved dataset): :func:`dir_fingerprint` over its files.

Every file is hashed whole (sha256 in 1 MiB chunks, never loaded at once); hashing file
headers and sizes would miss a retrained checkpoint of the same shape. Digests are cached
for the life of the process by (path, device, inode, size, mtime_ns, ctime_ns), so a study
hashes its base once, and a file rewritten in place (new mtime/ctime) or replaced by a
rename (new inode) is hashed again. Fingerprints are 16 hex digits.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

from .presets import PRESETS, is_chat_preset
from .tokenizer import VOCAB

CHUNK = 1 << 20
WEIGHT_FILES = (
    "*.safetensors",
    "pytorch_model*.bin",
    "adapter_model.bin",
    "*.safetensors.index.json",
    "*.bin.index.json",
)
CONFIG_FILES = ("config.json", "generation_config.json", "adapter_config.json")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "*.tiktoken",
)
MODEL_FILES = WEIGHT_FILES + CONFIG_FILES + TOKENIZER_FILES

_digests: dict[tuple, str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 (64 hex) of a file's bytes, read in chunks; cached by the file's identity
    and modification stamps for the life of the process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        _digests[key] = h.hexdigest()
    return _digests[key]


def _combine(kind: str, parts: Iterable[tuple[str, str]]) -> str:
    h = hashlib.sha256(kind.encode())
    for name, digest in parts:
        h.update(f"\n{name}\0{digest}".encode())
    return h.hexdigest()[:16]


def dir_fingerprint(path: str | os.PathLike, skip: tuple[str, ...] = ()) -> str:
    """Every file below ``path`` (relative names and bytes), except names matching a
    pattern of ``skip`` and hidden ones (``.``-prefixed files or folders)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"no such directory: {root}")
    files = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if any(fnmatch.fnmatch(p.name, pat) for pat in skip):
            continue
        files.append((rel.as_posix(), file_digest(p)))
    return _combine("dir", files)


def preset_fingerprint(name: str) -> str:
    """A preset is its definition: random weights from seed 0 of this shape and vocabulary."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: presets are {', '.join(sorted(PRESETS))}")
    d = {"preset": name, "config": asdict(PRESETS[name]), "init_seed": 0, "vocab": list(VOCAB)}
    if is_chat_preset(name):  # its tokenizer is trained on the corpus pretraining builds
        d["vocab"] = "bpe"
    return _combine("preset", [("definition", json.dumps(d, sort_keys=True))])


def model_fingerprint(preset_or_path: str | os.PathLike) -> str:
    """The content fingerprint of what :func:`sparring.models.load_model` would load (see
    the module docstring for what is hashed). ``ValueError`` if it names nothing loadable
    or a directory without weights."""
    from .loading import resolve_model_source

    kind, source = resolve_model_source(preset_or_path)
    if kind == "preset":
        return preset_fingerprint(str(source))
    root = Path(source)
    files = sorted(p for p in root.iterdir() if p.is_file() and any(fnmatch.fnmatch(p.name, m) for m in MODEL_FILES))
    if not any(any(fnmatch.fnmatch(p.name, m) for m in WEIGHT_FILES) for p in files):
        raise ValueError(f"no weights in {root} (looked for {', '.join(WEIGHT_FILES[:2])})")
    return _combine("model", [(p.name, file_digest(p)) for p in files])
