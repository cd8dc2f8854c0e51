"""What one unit of a study needs (a spec's ``resources:``), read by both executors."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class Resources:
    """What one unit needs: ``cpus`` (torch threads; Ray's num_cpus) and ``gpus`` (Ray's
    num_gpus). ``cpus`` None: in-process leaves torch's threads as they are; Ray reserves 1."""

    cpus: int | None = None
    gpus: float = 0

    @classmethod
    def from_any(cls, raw: Any, where: str = "resources") -> "Resources":
        if raw is None:
            return cls()
        if isinstance(raw, Resources):
            return raw
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: must be a mapping {{cpus, gpus}} (got {raw!r})")
        unknown = sorted(set(raw) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; allowed: ['cpus', 'gpus']")
        out = cls(**raw)
        out.validate(where)
        return out

    def validate(self, where: str = "resources") -> None:
        c, g = self.cpus, self.gpus
        if c is not None and (not isinstance(c, int) or isinstance(c, bool) or c < 1):
            raise ValueError(f"{where}.cpus: must be a positive integer or null (got {c!r})")
        if not isinstance(g, (int, float)) or isinstance(g, bool) or g < 0:
            raise ValueError(f"{where}.gpus: must be a number >= 0 (got {g!r})")
