"""Linear: solve a linear equation for an integer x (a task without steps: free-text
reasoning, final answer in ``<answer>...</answer>``).

``task`` (generator, solver, verifier), ``equation`` (renderer, exact solution, gold
derivation, bounded answer parser), ``mistakes`` (planted flaws, near misses). Importing
registers it.
"""

from .equation import render
from .task import Linear, LinearConfig

__all__ = ["Linear", "LinearConfig", "render"]
