"""Countdown: combine all given numbers with + - * / to reach a target (a step-chain task).

``task`` (generator, solver, verifier), ``core`` (the arithmetic, solver search and the
flaw engine's view), ``search`` (Stream-of-Search traces). Importing registers the task.
"""

from .task import Countdown, CountdownConfig

__all__ = ["Countdown", "CountdownConfig"]
