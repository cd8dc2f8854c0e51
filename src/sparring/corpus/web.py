"""The web-like pretraining mix (``pretrain`` recipe, ``mix: v2``): the v2 base's diet.

v1 (``mix: v1``, ``zoo:countdown-base``) is solutions (a share flawed) and search traces:
a base with latent solving skill and nothing else. Web text about such problems holds
much more, noisily: critiques, comparisons of answers, conversations with pushback,
attempts that get corrected, problems with no solution. v2 writes each of those kinds
(``web_docs.DOCUMENTS``) with its own share (:data:`V2_SHARES`) and noise
(:data:`V2_NOISE`), all from the task's generator and verifier and only on train problems,
so that post-training has something to *select* (docs/base-v2.md, the pre-registration).

Each row draws its kind from the shares with the recipe's seeded rng; a problem that
cannot make the drawn kind (an unsolvable one has no flaw to critique) gets a solution
document instead, so the realised shares are slightly off the nominal ones for tasks with
few flaws (the label column records what each row is). The held-out flaw kinds
(:data:`V2_HELDOUT_FLAWS`) appear in no document.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset

from ..tasks import get_task
from ..tasks.base import Task
from .common import Options, Rows, is_rate, need, recipe_rng, select_problems
from .search import check_search
from .web_docs import DOCUMENTS, Doc, WebContext, solution

# Pre-registered (docs/base-v2.md): fixed before any v2 base was trained; never tuned.
V2_SHARES: dict[str, float] = {
    "solution": 0.40,
    "search": 0.10,
    "critique": 0.10,
    "prose_critique": 0.05,
    "comparison": 0.10,
    "conversation": 0.10,
    "refinement": 0.08,
    "unsolvable": 0.07,
}
V2_NOISE: dict[str, float] = {
    "critic_error_rate": 0.2,
    "compare_error_rate": 0.2,
    "both_wrong_share": 0.25,
    "cave_rate": 0.25,
    "stay_wrong_rate": 0.15,
    "refine_error_rate": 0.15,
    "unsolvable_attempt_rate": 0.3,
}
V2_HELDOUT_FLAWS: tuple[str, ...] = ("swapped_steps",)
MIXES = ("v1", "v2")


def check_v2(o: Options) -> None:
    """Validate the v2 options of a ``pretrain`` recipe and fill in the defaults of
    ``shares`` and ``noise`` (``heldout_flaws`` None means the pre-registered kinds the
    task has); v1 must not set any of them."""
    r = o.recipe
    need(o.mix in MIXES, r, "mix", f"must be one of {list(MIXES)}", o.mix)
    if o.mix == "v1":
        for name in ("shares", "noise", "heldout_flaws"):
            need(getattr(o, name) is None, r, name, "is a v2 option (set mix: v2)", getattr(o, name))
        return
    need(o.search_fraction is None, r, "search_fraction", "is v1's; v2 sets shares.search", o.search_fraction)
    shares = V2_SHARES if o.shares is None else o.shares
    ok = isinstance(shares, dict) and shares and all(isinstance(k, str) for k in shares)
    need(ok, r, "shares", "must be a mapping of document kind -> share", shares)
    unknown = sorted(set(shares) - set(DOCUMENTS))
    need(not unknown, r, "shares", f"unknown document kind(s) {unknown}; kinds: {sorted(DOCUMENTS)}", shares)
    need(all(is_rate(v) for v in shares.values()), r, "shares", "every share must be a number in [0, 1]", shares)
    total = sum(shares.values())
    need(abs(total - 1.0) < 1e-6, r, "shares", f"must sum to 1 (they sum to {total:g})", shares)
    noise = dict(V2_NOISE)
    if o.noise is not None:
        need(isinstance(o.noise, dict), r, "noise", "must be a mapping of rate name -> rate", o.noise)
        unknown = sorted(set(o.noise) - set(V2_NOISE))
        need(not unknown, r, "noise", f"unknown rate(s) {unknown}; rates: {sorted(V2_NOISE)}", o.noise)
        noise.update(o.noise)
    bad = {k: v for k, v in noise.items() if not is_rate(v)}
    need(not bad, r, "noise", "every rate must be a number in [0, 1]", bad)
    held = o.heldout_flaws
    ok = held is None or (isinstance(held, (list, tuple)) and all(isinstance(k, str) for k in held))
    need(ok, r, "heldout_flaws", "must be a list of flaw kind names", held)
    o.shares, o.noise = dict(shares), noise
    o.heldout_flaws = None if held is None else tuple(held)


def _context(task: Task, o: Any, templates: tuple[int, ...], first: Any) -> WebContext:
    kinds: tuple[str, ...] = ()
    if task.has("flaws"):
        known = task.flaw_kinds()
        held = o.heldout_flaws
        if held is None:  # the default: the pre-registered kinds this task has
            held = tuple(k for k in V2_HELDOUT_FLAWS if k in known)
        missing = [k for k in held if k not in known]
        need(not missing, o.recipe, "heldout_flaws", f"{task.name} has flaw kinds {list(known)}", missing)
        kinds = tuple(k for k in known if k not in held)
    combos = None
    if o.shares.get("search", 0) > 0 and task.has("search"):
        combos = check_search(task, o.recipe, ("dfs", "bfs"), ("sum", "mult"), (1, 2, 3, 4, 5), first)
    twin = None
    if o.shares.get("unsolvable", 0) > 0 and task.has("unsolvable"):
        twin = get_task(task.name, **{**task.config_dict(), "unsolvable_fraction": 1.0})
    return WebContext(task=task, kinds=kinds, templates=templates, error_rate=o.error_rate, combos=combos,
                      unsolvable=twin, **o.noise)  # fmt: skip


def web_mix(task: Task, n: int, seed: int, o: Any, templates: tuple[int, ...]) -> Dataset:
    """``n`` rows of the v2 mix (module doc); ``o`` is a validated ``PretrainOptions``."""
    rng = recipe_rng("pretrain-v2", task, seed)
    problems = select_problems(task, n, seed)
    ctx = _context(task, o, templates, problems[0])
    names = [k for k, v in o.shares.items() if v > 0]
    weights = [o.shares[k] for k in names]
    rows = Rows(task)
    for p in problems:
        kind = rng.choices(names, weights)[0]
        got = DOCUMENTS[kind](ctx, p, rng)
        doc = Doc(*got) if got is not None else Doc(*solution(ctx, p, rng))
        rows.add(doc.problem or p, doc.prompt, doc.completion, doc.label)
    return rows.dataset()
