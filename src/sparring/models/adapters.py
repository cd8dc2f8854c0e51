"""LoRA adapter directories (peft): what they are and which base they sit on (``loading.load_adapter`` loads them).

An adapter checkpoint is a directory with ``adapter_config.json`` and the adapter's
weights (``adapter_model.safetensors``), the tokenizer and, when sparring wrote it,
``run.json``. Its base model is the one recorded in run.json (``lora_base``: a
preset, ``zoo:NAME`` or a directory) or, for an adapter written elsewhere, peft's
``base_model_name_or_path``. A base that cannot be found is one ValueError naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def adapter_base(path: str | Path) -> str:
    """The base model an adapter directory was trained on (see the module doc)."""
    from sparring.runcard import RUN_CARD

    path = Path(path)
    base = None
    card = path / RUN_CARD
    if card.is_file():
        try:
            base = json.loads(card.read_text()).get("lora_base")
        except (OSError, json.JSONDecodeError):
            base = None
    if not base:
        try:
            base = json.loads((path / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"adapter {path}: unreadable {ADAPTER_CONFIG} ({err})") from None
    if not base:
        raise ValueError(f"adapter {path}: names no base model (run.json lora_base or {ADAPTER_CONFIG})")
    return str(base)
