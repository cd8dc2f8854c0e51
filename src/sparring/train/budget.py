"""Training budgets: steps, tokens, wall seconds (``callbacks.py`` enforces them).

A budget may set any of its three limits; training stops at whichever is reached first.
The learning-rate schedule decays over the budget's *progress* (the largest used fraction
of any limit), so a 300-second run anneals over 300 seconds whatever its step rate.

    Budget(seconds=300)            Budget.parse("300s")      "5min"
    Budget(steps=200)              Budget.parse("200steps")
    Budget(tokens=2_000_000)       Budget.parse("2Mtokens")  "2e6tokens"

Tokens are the non-padding tokens the trainer processed: prompt + completion for SFT
(``include_num_input_tokens_seen="non_padding"``), prompt + generated completion for GRPO
(TRL's own count). Seconds are wall time from the first training step's start, excluding
data building, model loading and the final evaluation.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

_UNITS = {
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minutes": "minutes",
    "step": "steps",
    "steps": "steps",
    "tok": "tokens",
    "token": "tokens",
    "tokens": "tokens",
}
_SCALE = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
_BUDGET_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([kKMG]?)\s*([a-zA-Z]+)\s*$")
UNBOUNDED_STEPS = 10_000_000  # max_steps handed to the Trainer when steps are not the limit


@dataclass(frozen=True)
class Budget:
    """How much training a run may do; at least one limit, each > 0."""

    steps: int | None = None
    tokens: int | None = None
    seconds: float | None = None

    def validate(self) -> "Budget":
        if self.steps is None and self.tokens is None and self.seconds is None:
            raise ValueError("budget: set at least one of steps, tokens, seconds (e.g. '300s', '200steps')")
        for name in ("steps", "tokens"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise ValueError(f"budget.{name}: must be a positive integer, got {v!r}")
        s = self.seconds
        if s is not None and (not isinstance(s, (int, float)) or isinstance(s, bool) or not math.isfinite(s) or s <= 0):
            raise ValueError(f"budget.seconds: must be a positive number, got {s!r}")
        return self

    @classmethod
    def parse(cls, value: Any) -> "Budget":
        """A Budget from a Budget, a dict, an int (steps) or text like '300s', '2Mtokens'."""
        if isinstance(value, Budget):
            return value.validate()
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"steps", "tokens", "seconds"})
            if unknown:
                raise ValueError(f"budget: unknown field(s) {unknown}; allowed: steps, tokens, seconds")
            return cls(**value).validate()
        if isinstance(value, bool) or value is None:
            raise ValueError(f"budget: expected e.g. '300s', '200steps' or '2Mtokens', got {value!r}")
        if isinstance(value, int):
            return cls(steps=value).validate()
        if isinstance(value, str):
            parts = [p for p in re.split(r"[,;+]", value) if p.strip()]
            if not parts:
                raise ValueError(f"budget: expected e.g. '300s', '200steps' or '2Mtokens', got {value!r}")
            fields: dict[str, Any] = {}
            for part in parts:
                m = _BUDGET_RE.match(part)
                if m is None or m[3] not in _UNITS:
                    raise ValueError(
                        f"budget: cannot read {part.strip()!r}; write a number and a unit "
                        f"(s, min, steps, tokens), e.g. '300s', '200steps', '2Mtokens'"
                    )
                number = float(m[1]) * _SCALE[m[2]]
                unit = _UNITS[m[3]]
                if unit == "minutes":
                    unit, number = "seconds", number * 60
                fields[unit] = number if unit == "seconds" else int(round(number))
            return cls(**fields).validate()
        raise ValueError(f"budget: expected text, a number of steps or a dict, got {type(value).__name__}")

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def _parts(self, steps: str, tokens: str, seconds: str) -> list[str]:
        given = ((steps, self.steps), (tokens, self.tokens), (seconds, self.seconds))
        return [fmt.format(v) for fmt, v in given if v is not None]

    def text(self) -> str:
        """The spelling ``Budget.parse`` reads back, e.g. '800steps' or '300s,2000000tokens'."""
        return ",".join(self._parts("{}steps", "{}tokens", "{:g}s"))

    def __str__(self) -> str:
        return " or ".join(self._parts("{} steps", "{:,} tokens", "{:g} s"))

    @property
    def max_steps(self) -> int:
        return self.steps if self.steps is not None else UNBOUNDED_STEPS
