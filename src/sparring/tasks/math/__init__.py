"""Math: a local question/answer dataset (or the shipped sample) graded by math-verify in
the bounded grading worker (a task without steps; see ``task``).

``task`` (the Task), ``dataset`` (reading jsonl / parquet / save_to_disk), ``grade``
(exact numbers in-process, math-verify in the worker), ``mistakes`` (numeric flaws),
``sample`` (the generator of the shipped sample). Importing registers it.
"""

from .task import Math, MathConfig

__all__ = ["Math", "MathConfig"]
