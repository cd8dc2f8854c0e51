"""Training budgets: steps, tokens, wall seconds, FLOPs (``callbacks.py`` enforces them).

A budget may set any of its four limits; training stops at whichever is reached first.
The learning-rate schedule decays over the budget's *progress* (the largest used fraction
of any limit), so a 300-second run anneals over 300 seconds whatever its step rate.

    Budget(seconds=300)            Budget.parse("300s")      "5min"
    Budget(steps=200)              Budget.parse("200steps")
    Budget(tokens=2_000_000)       Budget.parse("2Mtokens")  "2e6tokens"
    Budget(flops=20 * 10**12)      Budget.parse("2e13flops") "20Tflops", "2e13 FLOPs"

Tokens are the non-padding tokens the trainer processed: prompt + completion for SFT
(``include_num_input_tokens_seen="non_padding"``), prompt + generated completion for GRPO
(TRL's own count). Seconds are wall time from the first training step's start, excluding
data building, model loading and the final evaluation. FLOPs are counted by one rule for
every method (``flops.py``, docs/flops.md): every forward, backward and generated token of
every model the method runs while it trains, evaluation outside training excluded.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
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
    "flop": "flops",
    "flops": "flops",
    "FLOP": "flops",
    "FLOPs": "flops",
    "FLOPS": "flops",
}
_SCALE = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_BUDGET_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKMGTP]?)\s*([a-zA-Z]+)\s*$")
_COUNTS = ("steps", "tokens", "flops")  # the integer limits
_FIELDS = ("steps", "tokens", "seconds", "flops")
_EXAMPLES = "'300s', '200steps', '2Mtokens' or '2e13flops'"
UNBOUNDED_STEPS = 10_000_000  # max_steps handed to the Trainer when steps are not the limit


@dataclass(frozen=True)
class Budget:
    """How much training a run may do; at least one limit, each > 0."""

    steps: int | None = None
    tokens: int | None = None
    seconds: float | None = None
    flops: int | None = None

    def validate(self) -> "Budget":
        if all(getattr(self, name) is None for name in _FIELDS):
            raise ValueError(f"budget: set at least one of steps, tokens, seconds, flops (e.g. {_EXAMPLES})")
        for name in _COUNTS:
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise ValueError(f"budget.{name}: must be a positive integer, got {v!r}")
        s = self.seconds
        if s is not None and (not isinstance(s, (int, float)) or isinstance(s, bool) or not math.isfinite(s) or s <= 0):
            raise ValueError(f"budget.seconds: must be a positive number, got {s!r}")
        return self

    @classmethod
    def parse(cls, value: Any) -> "Budget":
        """A Budget from a Budget, a dict, an int (steps) or text like '300s', '2Mtokens', '2e13flops'."""
        if isinstance(value, Budget):
            return value.validate()
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(_FIELDS))
            if unknown:
                raise ValueError(f"budget: unknown field(s) {unknown}; allowed: {', '.join(_FIELDS)}")
            fields = dict(value)
            f = fields.get("flops")  # YAML and JSON write big counts as floats (2.0e+13)
            if isinstance(f, float) and math.isfinite(f) and f == int(f):
                fields["flops"] = int(f)
            return cls(**fields).validate()
        if isinstance(value, bool) or value is None:
            raise ValueError(f"budget: expected e.g. {_EXAMPLES}, got {value!r}")
        if isinstance(value, int):
            return cls(steps=value).validate()
        if isinstance(value, str):
            parts = [p for p in re.split(r"[,;]|(?<![0-9][eE])\+", value) if p.strip()]
            if not parts:
                raise ValueError(f"budget: expected e.g. {_EXAMPLES}, got {value!r}")
            fields: dict[str, Any] = {}
            for part in parts:
                m = _BUDGET_RE.match(part)
                if m is None or m[3] not in _UNITS:
                    raise ValueError(
                        f"budget: cannot read {part.strip()!r}; write a number and a unit "
                        f"(s, min, steps, tokens, flops), e.g. {_EXAMPLES}"
                    )
                number = _number(m[1]) * _SCALE[m[2]]  # exact: 2e13flops is 20000000000000
                unit = _UNITS[m[3]]
                if unit == "minutes":
                    unit, number = "seconds", number * 60
                fields[unit] = float(number) if unit == "seconds" else int(number.to_integral_value())
            return cls(**fields).validate()
        raise ValueError(f"budget: expected text, a number of steps or a dict, got {type(value).__name__}")

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def _parts(self, steps, tokens, seconds, flops) -> list[str]:
        given = ((steps, self.steps), (tokens, self.tokens), (seconds, self.seconds), (flops, self.flops))
        return [fmt(v) for fmt, v in given if v is not None]

    def text(self) -> str:
        """The spelling ``Budget.parse`` reads back, e.g. '800steps', '300s,2000000tokens', '2e13flops'."""
        return ",".join(
            self._parts("{}steps".format, "{}tokens".format, "{:g}s".format, lambda v: f"{exact_count(v)}flops")
        )

    def __str__(self) -> str:
        return " or ".join(
            self._parts("{} steps".format, "{:,} tokens".format, "{:g} s".format, lambda v: f"{short_count(v)} FLOPs")
        )

    @property
    def max_steps(self) -> int:
        return self.steps if self.steps is not None else UNBOUNDED_STEPS


AUTO_CHECKPOINT_SECONDS = 600.0  # checkpoint_every "auto": a run shorter than this writes none


def parse_every(value: Any, what: str = "checkpoint_every") -> tuple[str, float] | None:
    """How often to write a resumable checkpoint: None or ``"off"`` (never), ``"auto"``
    (every 10 minutes of training, so a shorter run writes none), ``"10steps"`` ->
    ``("steps", 10)``, ``"5min"`` / ``"300s"`` -> ``("seconds", 300.0)`` (the budget's
    spelling, one limit, steps or time)."""
    if value is None or value == "off":
        return None
    if value == "auto":
        return ("seconds", AUTO_CHECKPOINT_SECONDS)
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected e.g. '50steps', '5min', 'auto' or 'off', got {value!r}")
    try:
        b = Budget.parse(value)
    except ValueError as err:
        raise ValueError(f"{what}: {str(err).removeprefix('budget: ')}") from None
    given = b.to_dict()
    if len(given) != 1 or not ({"steps", "seconds"} & set(given)):
        raise ValueError(f"{what}: give a number of steps or a time, e.g. '50steps' or '5min', got {value!r}")
    return ("steps", float(b.steps)) if b.steps is not None else ("seconds", float(b.seconds))


def _number(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:  # the pattern admits only numbers; kept for safety
        raise ValueError(f"budget: cannot read the number {text!r}") from None


def exact_count(n: int) -> str:
    """``n`` exactly, trailing zeros as an exponent: 20000000000000 -> '2e13', 1500 -> '15e2'."""
    digits = str(int(n))
    zeros = len(digits) - len(digits.rstrip("0"))
    return f"{digits[:-zeros]}e{zeros}" if zeros >= 3 else digits


def short_count(n: float) -> str:
    """Three significant digits: 2.5e+10 -> '2.5e10', 1234 -> '1.23e3', 999 -> '999'."""
    text = f"{n:.3g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"
