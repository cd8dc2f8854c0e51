"""The findings table's row before a claim is evaluated: shared by ``findings.evaluate``
(probe claims) and ``rounds.evaluate_loop`` (finding 8), so both tables have one shape."""

from __future__ import annotations

from typing import Any


def untested_row(claim: Any, metric: str, rule: str) -> dict[str, Any]:
    """A claim's row with no effect yet: verdict "not tested by this run" until its arms
    are found and measured (``claim`` has ``id``, ``statement``, ``published``, ``premise``)."""
    return {
        "id": claim.id,
        "statement": claim.statement,
        "published": claim.published,
        "metric": metric,
        "verdict": "not tested by this run",
        "effect": None,
        "lo": None,
        "hi": None,
        "comparison": "",
        "method": "",
        "rule": rule,
        "premise": claim.premise,
        "interval_verdict": None,
    }
