"""Command-line ``KEY=VALUE`` settings, shared by every layer's commands."""

from __future__ import annotations

import json


def parse_settings(items: list[str] | None, flag: str = "--set") -> dict:
    """``KEY=VALUE`` pairs; values are JSON when they parse as JSON, else strings.
    A pair without ``=`` raises ValueError naming the flag."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag}: expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out
