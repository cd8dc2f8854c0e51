"""The judging half of RARO: the critic judges a step's policy answers and returns a
:class:`Round` (the policy's rewards among it), the verdict and label statistics logged
every step, and the monitor statistics that may consult the verifier beside training
(never inside it). See ``trainer.py`` for the step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from sparring.models.responder import first_user_text
from sparring.rewards import as_problem, completion_text

from .game import Game, Judgement, Triple, clean_answer
from .planning import CriticPlan
from .sampling import CriticRollout, CriticSampler


@dataclass
class Round:
    """One step's judging, as :meth:`CriticJudge.judge` returns it: the distinct pairs,
    their critic rollouts (``k`` per pair, in order), per policy rollout its pair index
    (None: truncated, not judged), the policy rewards; ``plan`` (which fresh pairs the
    critic trains on, and the extra judgements of its batch, with ``extra_rollouts``)
    was made before judging and its extras sampled in the same batched pass."""

    judgements: list[Judgement]
    rollouts: list[CriticRollout]
    k: int
    slot_of: list[int | None]
    texts: list[str]
    problems: list[Any]
    policy_rewards: list[float | None]
    plan: CriticPlan = field(default_factory=lambda: CriticPlan([]))
    extra_rollouts: list[CriticRollout] = field(default_factory=list)

    @property
    def chosen(self) -> list[int]:
        return self.plan.chosen

    @property
    def extra(self) -> list[Judgement]:
        return self.plan.extra

    def critic_batch(self) -> tuple[list[CriticRollout], list[Judgement]]:
        """The critic's training rows and their answer keys: the chosen fresh pairs'
        rollouts, then the planned extras' (replayed ones last)."""
        k = self.k
        rows = [r for n in self.chosen for r in self.rollouts[n * k : (n + 1) * k]] + self.extra_rollouts
        keys = [self.judgements[n] for n in self.chosen for _ in range(k)] + [j for j in self.extra for _ in range(k)]
        return rows, keys


class CriticJudge:
    """Judges a step's policy answers with the critic (:meth:`judge` returns a
    :class:`Round`); the policy's reward is the critic's verdict on each answer."""

    def __init__(
        self,
        game: Game,
        sampler: CriticSampler,
        k: int = 1,
        expected: bool = False,
        seed: int = 0,
        drop_truncated: bool = True,
    ):
        self.game, self.sampler, self.k, self.expected = game, sampler, k, expected
        self.drop_truncated = drop_truncated
        from ..distributed import rank_seed

        self.rng = random.Random(rank_seed(f"raro-judge|{seed}"))

    def judge(
        self,
        critic,
        prompts,
        completions,
        completion_ids,
        expert,
        problem=None,
        *,
        stop_ids: Iterable[int],
        plan: Callable[[list[Judgement]], CriticPlan] | None = None,
    ) -> Round:
        """Pair every distinct, finished answer with its question's expert demonstration
        (random order), sample ``k`` verdicts per pair with ``critic`` and the planned
        extras in the same pass; an answer whose last token is not in ``stop_ids`` is
        truncated (with ``drop_truncated``: not judged, reward None)."""
        if expert is None:
            raise ValueError("raro: the dataset needs an 'expert' column (the demonstration)")
        stop = set(stop_ids)
        texts = [completion_text(c) for c in completions]
        index: dict[tuple[str, str], int] = {}
        triples: list[Triple] = []
        slot_of: list[int | None] = []
        for i, (q, e, text, ids) in enumerate(zip(prompts, expert, texts, completion_ids)):
            q = first_user_text(q)  # a conversation's question (chat style)
            if self.drop_truncated and (not ids or ids[-1] not in stop):
                slot_of.append(None)  # truncated: not judged, no reward, dropped from the loss
                continue
            key = (q, clean_answer(text))
            if key not in index:
                index[key] = len(triples)
                triples.append(Triple(q, e, text, None if problem is None else problem[i]))
            slot_of.append(index[key])
        judgements = [self.game.judgement(tr, self.rng) for tr in triples]
        planned = plan(judgements) if plan is not None else CriticPlan(list(range(len(judgements))))
        k = self.k
        asked = [j.prompt for j in judgements + planned.extra for _ in range(k)]
        rollouts = self.sampler.sample(critic, asked)
        rollouts, extra_rollouts = rollouts[: len(judgements) * k], rollouts[len(judgements) * k :]
        pair_reward = []
        for n, j in enumerate(judgements):
            rs = rollouts[n * k : (n + 1) * k]
            if self.expected and rs[0].label_probs:
                vals = [sum(p * self.game.rewards(lb, j)[1] for lb, p in r.label_probs.items()) for r in rs]
            else:
                vals = [self.game.rewards(r.verdict, j)[1] for r in rs]
            pair_reward.append(sum(vals) / len(vals))
        rewards = [None if s is None else pair_reward[s] for s in slot_of]
        return Round(judgements, rollouts, k, slot_of, texts, list(problem or []), rewards, planned, extra_rollouts)


def verdict_stats(verdicts: list[tuple[str | None, Judgement]], game: Game) -> dict[str, float]:
    n = max(1, len(verdicts))
    labels = set(game.labels)
    ok = [v for v, _ in verdicts if v in labels]
    distinct = [(v, j) for v, j in verdicts if not j.triple.identical]
    return {
        "raro/critic_accuracy": sum(v == j.truth for v, j in verdicts) / n,
        "raro/tie_rate": sum(v == "tie" for v, _ in verdicts if v in labels) / n,
        "raro/policy_win_rate": sum(v == j.fooled for v, j in verdicts) / n,
        "raro/unparseable_rate": (len(verdicts) - len(ok)) / n,  # 0 when nothing was judged
        "raro/critic_accuracy_distinct": (sum(v == j.truth for v, j in distinct) / len(distinct)) if distinct else 0.0,
        "raro/identical_rate": sum(j.triple.identical for _, j in verdicts) / n,
    }


def label_stats(rows: list[CriticRollout], keys: list[Judgement], labels: tuple[str, ...]) -> dict[str, float]:
    """The critic's label distribution on its training rows: each label's share of the
    sampled verdicts (``raro/label_share/<label>``), the largest share
    (``raro/majority_label_share``: 1.0 is a critic that says one label to everything),
    the largest share of one *true* label (``raro/truth_majority_share``: what always
    saying it would score) and, with constrained decoding, the mean probability of each
    label (``raro/label_prob/<label>``)."""
    n = max(1, len(rows))
    share = {lb: sum(r.verdict == lb for r in rows) / n for lb in labels}
    out = {f"raro/label_share/{lb}": v for lb, v in share.items()}
    out["raro/majority_label_share"] = max(share.values(), default=0.0)
    out["raro/truth_majority_share"] = max((sum(j.truth == lb for j in keys) / n for lb in labels), default=0.0)
    if rows and all(r.label_probs for r in rows):
        out.update({f"raro/label_prob/{lb}": sum(r.label_probs.get(lb, 0.0) for r in rows) / n for lb in labels})
    return out


def step_stats(rnd: Round, rows: list[CriticRollout], keys: list[Judgement], game: Game, objective) -> dict:
    """The step's ``raro/*`` numbers: the verdicts on the fresh pairs (``verdict_stats``),
    the critic's mean length, the share of policy answers dropped as truncated, the
    replayed pairs' accuracy, the label distribution of the critic's rows
    (``label_stats``), the critic's mean sampled reward (and its objective's, when that
    is not the sampled one), the critic rows and the policy's mean reward."""
    from .objectives import critic_rewards, get_critic_objective

    k = rnd.k
    verdicts = [(r.verdict, j) for n, j in enumerate(rnd.judgements) for r in rnd.rollouts[n * k : (n + 1) * k]]
    stats = verdict_stats(verdicts, game)
    stats["raro/critic_length"] = sum(len(r.completion_ids) for r in rnd.rollouts) / max(1, len(rnd.rollouts))
    stats["raro/dropped_rate"] = sum(s is None for s in rnd.slot_of) / max(1, len(rnd.slot_of))
    n_rep = rnd.plan.n_replayed * k
    if n_rep:
        rv = [(r.verdict, j) for r, j in zip(rows[-n_rep:], keys[-n_rep:])]
        stats["raro/replay_critic_accuracy"] = verdict_stats(rv, game)["raro/critic_accuracy"]
    stats.update(label_stats(rows, keys, game.labels))
    if rows:
        sampled = critic_rewards(get_critic_objective("sampled"), rows, keys, game)
        stats["raro/critic_reward"] = float(sampled.nanmean()) if (~sampled.isnan()).any() else 0.0
        if objective.name != "sampled":
            stats["raro/critic_objective_reward"] = float(critic_rewards(objective, rows, keys, game).nanmean())
    else:
        stats["raro/critic_reward"] = 0.0
    stats["raro/critic_rows"] = float(len(rows))
    pr = [r for r in rnd.policy_rewards if r is not None]
    stats["raro/policy_reward"] = sum(pr) / len(pr) if pr else 0.0
    return stats


def verified_stats(task, rnd: Round) -> dict[str, float]:
    """Monitor only, never inside the reward path: the step's policy answers checked by the
    task's verifier (``monitor/verified_accuracy``, truncated answers count as wrong when
    dropped) and the critic's accuracy on the pairs whose policy answer is verifiably wrong.
    Empty when the round has no problems to verify against."""
    probs = [as_problem(p) for p in rnd.problems]
    if len(probs) != len(rnd.texts):
        return {}
    right = [task.verify(p, x).correct for p, x in zip(probs, rnd.texts)]
    right = [ok and s is not None for ok, s in zip(right, rnd.slot_of)]
    wrong_pairs = {s for ok, s in zip(right, rnd.slot_of) if s is not None and not ok}
    k = rnd.k
    hits = [r.verdict == rnd.judgements[n].truth for n in wrong_pairs for r in rnd.rollouts[n * k : (n + 1) * k]]
    return {
        "monitor/verified_accuracy": sum(right) / max(1, len(right)),
        "monitor/critic_accuracy_on_wrong": sum(hits) / len(hits) if hits else 0.0,
    }
