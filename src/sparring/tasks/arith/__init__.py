"""Arith: evaluate a multi-step integer expression, one reduction per line (a step-chain task).

``task`` (generator, solver, verifier), ``expr`` (safe parser, renderer, generator),
``tree`` (reference step semantics and the flaw engine's view). Importing registers it.
"""

from .expr import parse, render
from .task import Arith, ArithConfig

__all__ = ["Arith", "ArithConfig", "parse", "render"]
