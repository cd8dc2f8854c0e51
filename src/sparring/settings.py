"""Command-line ``KEY=VALUE`` settings, shared by every layer's commands."""

from __future__ import annotations

import json


def parse_settings(items: list[str] | None, flag: str = "--set") -> dict:
    """``KEY=VALUE`` pairs; values are JSON when they parse as JSON, else strings. A dotted
    key sets a nested option: ``lora.r=16`` gives ``{"lora": {"r": 16}}``. A pair without
    ``=`` (or a dotted key under a non-mapping value) raises ValueError naming the flag."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag}: expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        *path, last = [k.strip() for k in key.split(".")]
        where = out
        for k in path:
            where = where.setdefault(k, {})
            if not isinstance(where, dict):
                raise ValueError(f"{flag}: {key!r} sets a field inside {k!r}, which is not a mapping")
        where[last] = parsed
    return out


def merged(base: dict, over: dict) -> dict:
    """``base`` with ``over`` on top, mappings merged key by key (``--set lora.r=8`` keeps
    the ``lora.alpha`` a config file set)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
