"""reasoning-gym tasks: ``--task rg:NAME`` wraps any reasoning-gym dataset (the ``gym``
extra: ``pip install 'sparring[gym]'``).

    sparring sample rg:chain_sum --task-set max_terms=4
    get_task("rg:countdown", min_numbers=3, max_numbers=4)

The task options are the dataset's own config fields (its ``seed`` excepted: sparring
draws the item index), checked by the dataset's own ``validate`` (an error names the
task); ``size``, the number of items drawn from, defaults to a million (a dataset that
builds all its items up front, such as ``acre``, or refuses a large size, such as
``word_ladder``, needs a small one: ``--task-set size=2000``). A problem is item ``index`` of the dataset built from that config with seed
``grade.SEED`` (``{"config", "index", "question", "answer"}``); its id is the hash of
(question, answer), and ``check_problem`` regenerates the item, so a problem's JSON
cannot claim content the generator did not make.

Levels: ``id`` is the configured dataset. Where the dataset has a reasoning-gym
curriculum, ``ood`` pushes every range knob (``min_X``/``max_X``) to the first curriculum
value above the configured maximum (``chain_sum``: 7 terms of 5 digits for the default
2..6 terms of 1..4 digits); knobs already at the top stay. An item whose config is not the
id config is held out whatever its level label.

Answers: the last ``<answer>...</answer>`` tag (at most ``MAX_TAG_CHARS`` inside). A tag
equal to the gold answer is right; anything else is scored by the dataset's own
``score_answer`` in the bounded grading worker, and counts as right only at exactly 1.0
(partial credit, e.g. the gold answer inside a longer reply, is wrong). ``rg:countdown``
is graded by sparring's own Countdown verifier instead (``countdown.chat``: the bounded
parser, every number exactly once, Countdown's rule), never by reasoning-gym's scorer,
which reads the answer with sympy and lets a number be used twice.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import enum
import json
import random
from dataclasses import dataclass
from typing import Any

from ..base import Problem, Task, TaskConfig, Verdict, content_id, fail, read_completion
from ..countdown import chat as countdown_chat
from ..countdown import core as countdown_core
from ..freetext import last_answer
from ..grader import DEFAULT_TIMEOUT_S, grade
from . import grade as rg

MAX_TAG_CHARS = 4_000
PREFIX = "rg"
HIDDEN = ("seed",)  # the reasoning-gym config field sparring sets itself


@dataclass
class GymConfig(TaskConfig):
    """The fields every ``rg:NAME`` config has; the dataset's own fields are added per task."""

    task_name = "rg"
    grade_timeout_s: float = DEFAULT_TIMEOUT_S

    def rg_fields(self) -> dict[str, Any]:
        base = {f.name for f in dataclasses.fields(GymConfig)}
        return {k: _jsonable(v) for k, v in dataclasses.asdict(self).items() if k not in base}

    def validate(self) -> None:
        self.need_split_fields()
        self.need(self.unsolvable_fraction == 0, "unsolvable_fraction", "must be 0 (reasoning-gym items are solvable)")
        self.need(
            isinstance(self.grade_timeout_s, (int, float)) and 0 < self.grade_timeout_s <= 600,
            "grade_timeout_s",
            "must be in (0, 600] seconds",
        )
        rg.rg_config(self.dataset_name, self.rg_fields())  # the dataset's own checks


def _jsonable(v: Any) -> Any:
    """A reasoning-gym config value as JSON (``grade._typed`` turns it back)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {k: _jsonable(x) for k, x in dataclasses.asdict(v).items()}
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    return [_jsonable(x) for x in v] if isinstance(v, (list, tuple)) else v


def _taggable(answer: str) -> bool:
    return "<" not in answer and ">" not in answer and len(answer) <= MAX_TAG_CHARS


def available() -> list[str]:
    """The names reasoning-gym registers (ValueError without the gym extra)."""
    try:
        from reasoning_gym.factory import DATASETS
    except ImportError as err:
        raise ValueError("rg: reasoning-gym is not installed; pip install 'sparring[gym]'") from err
    return sorted(DATASETS)


def ood_config(name: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """``config`` with every curriculum range knob one step past its maximum (None if the
    dataset has no curriculum, no knob can move, or reasoning-gym refuses the result)."""
    from reasoning_gym.coaching import RangeAttributeDefinition
    from reasoning_gym.factory import create_curriculum, has_curriculum

    if not has_curriculum(name):
        return None
    out, moved = dict(config), False
    for attr in create_curriculum(name).attributes.values():
        hi = config.get(getattr(attr, "upper_field_name", ""))
        if not isinstance(attr, RangeAttributeDefinition) or not isinstance(hi, (int, float)):
            continue
        above = sorted(v for v in attr.levels if isinstance(v, (int, float)) and not isinstance(v, bool) and v > hi)
        if above:
            out[attr.lower_field_name] = out[attr.upper_field_name] = above[0]
            moved = True
    if not moved:
        return None
    try:
        rg.rg_config(name, out)
    except ValueError:
        return None
    return out


class GymTask(Task):
    """Base of every ``rg:NAME`` class (``make`` builds one per dataset)."""

    dataset_name = ""
    templates = (
        "{question}\nGive the final answer in <answer></answer>.\nAnswer:",
        "Question: {question}\nAnswer (inside <answer></answer>):",
        "{question}\nEnd with <answer>your answer</answer>.\n",
        "Task: {question}\nFinal answer in <answer>...</answer>:",
    )
    styles = ("char", "chat")
    chat_templates = (
        "{question}\n\nThink it through, then give your final answer inside <answer></answer> tags.",
        "Solve the following.\n{question}\nReason step by step and end with <answer>your final answer</answer>.",
        "{question}\nPut only the final answer in <answer>...</answer>; anything outside the tags is not graded.",
    )
    levels = {"id": "in distribution: the configured dataset", "ood": "every curriculum knob one step beyond"}
    capabilities = frozenset()
    external_grader = True

    def __init__(self, **config: Any):
        super().__init__(**config)
        cfg = self.config.rg_fields()
        ood = ood_config(self.dataset_name, cfg)
        self._configs = {"id": cfg, **({"ood": ood} if ood else {})}
        self.levels = {k: v for k, v in type(self).levels.items() if k in self._configs}
        answer = str(rg.entry(self.dataset_name, cfg, 0)["answer"])
        if not _taggable(answer):
            raise ValueError(
                f"{self.name}: its answers ({answer[:40]!r}) hold '<' or '>' or are over {MAX_TAG_CHARS} "
                "characters, so they cannot be given in an <answer> tag; this dataset is not supported"
            )

    # ---- generation ---------------------------------------------------------------------
    def _draw(self, rng: random.Random, level: str) -> Problem | None:
        index = rng.randrange(self._configs[level].get("size", rg.INDEX_SPACE))
        try:
            return self._make(self._configs[level], index, level)
        except Exception:  # noqa: BLE001 - a generator that fails on one index: draw again
            return None

    def _make(self, config: dict[str, Any], index: int, level: str) -> Problem:
        e = rg.entry(self.dataset_name, config, index)
        question, answer = str(e["question"]), str(e["answer"])
        if not _taggable(answer):
            raise ValueError("an answer that cannot be tagged")
        return Problem(
            task=self.name,
            id=content_id(self.name, [question, answer]),
            data={"config": config, "index": index, "question": question, "answer": answer},
            level=level,
            difficulty="medium",
        )

    def _ood_content(self, problem: Problem) -> bool:
        return json.dumps(problem.data.get("config"), sort_keys=True) != json.dumps(self._configs["id"], sort_keys=True)

    @classmethod
    def check_problem(cls, problem: Problem) -> Problem:
        d = problem.data
        if not isinstance(d, dict) or not isinstance(d.get("config"), dict):
            raise ValueError("problem.data: must be an object with 'config' and 'index'")
        index = d.get("index")
        size = d["config"].get("size", rg.INDEX_SPACE)
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(size, int) or not 0 <= index < size:
            raise ValueError(f"problem.data.index: must be an integer in 0..size - 1 (got {index!r})")
        if problem.level not in cls.levels:
            raise ValueError(f"problem.level: {problem.level!r} is not one of {list(cls.levels)}")
        unknown = sorted(set(d["config"]) - set(cls.config_cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"problem.data.config: unknown field(s) {unknown}")
        try:
            e = rg.entry(cls.dataset_name, d["config"], index)
        except ValueError:  # the config refused, named by rg_config
            raise
        except Exception as err:  # noqa: BLE001 - the generator failed on this (config, index)
            raise ValueError(f"problem.data: reasoning-gym cannot make this item: {type(err).__name__}") from err
        question, answer = str(e["question"]), str(e["answer"])
        data = {"config": d["config"], "index": index, "question": question, "answer": answer}
        return Problem(cls.name, content_id(cls.name, [question, answer]), data, problem.level, problem.difficulty)

    # ---- text -----------------------------------------------------------------------------
    def _template_fields(self, problem: Problem) -> dict:
        return {"question": problem.data["question"]}

    def question(self, problem: Problem) -> str:
        return f"{problem.data['question']}\nGive the final answer in the tag <answer>...</answer>."

    def solve(self, problem: Problem) -> str:
        return f"<answer>{problem.data['answer']}</answer>"

    def _chat_gold(self, problem: Problem) -> str:
        return self.solve(problem)

    def _gold_answer(self, problem: Problem) -> str:
        return problem.data["answer"]

    # ---- verification ------------------------------------------------------------------------
    def _tag(self, problem: Problem, completion: Any) -> str | Verdict:
        text = read_completion(problem, completion)
        if isinstance(text, Verdict):
            return text
        answer = last_answer(text, MAX_TAG_CHARS)
        if answer is None:
            return fail(f"no <answer>...</answer> tag (at most {MAX_TAG_CHARS} characters inside)", well_formed=False)
        return answer

    def verify(self, problem: Problem, completion: str) -> Verdict:
        answer = self._tag(problem, completion)
        if isinstance(answer, Verdict):
            return answer
        d = problem.data
        if answer == d["answer"].strip():
            return Verdict(True, True, [], None, answer[:80])
        got = grade("rg", self.dataset_name, d["config"], d["index"], answer, timeout_s=self.config.grade_timeout_s)
        if not got.ok or not isinstance(got.value, (int, float)):
            return fail(f"not graded: {got.error}", answer=answer[:80], first_error=0)
        if got.value != 1.0:  # strict: partial credit is wrong
            return fail(f"reasoning-gym scores it {got.value:.3g} (1.0 needed)", answer=answer[:80], first_error=0)
        return Verdict(True, True, [], None, answer[:80])


class GymCountdown(GymTask):
    """``rg:countdown``: reasoning-gym's generator, sparring's Countdown verifier; the gold is
    reasoning-gym's expression when it passes Countdown's rule (every intermediate result a
    positive integer), else one found by sparring's search for up to ``SEARCH_MAX``
    numbers; an item with neither is not drawn."""

    SEARCH_MAX = 5

    def _numbers(self, problem: Problem) -> Problem:
        e = rg.entry(self.dataset_name, problem.data["config"], problem.data["index"])
        m = e["metadata"]
        return Problem("countdown", "", {"numbers": list(m["numbers"]), "target": int(m["target"])})

    def _draw(self, rng: random.Random, level: str) -> Problem | None:
        p = super()._draw(rng, level)
        return p if p is not None and self._gold_text(p) is not None else None

    def _gold_text(self, problem: Problem) -> str | None:
        cache = self.__dict__.setdefault("_golds", {})
        if problem.id not in cache:
            cp = self._numbers(problem)
            nums, target = cp.data["numbers"], cp.data["target"]
            own = f"<answer>{problem.data['answer']}</answer>"
            gold = own if countdown_chat.verify(cp, own).correct else None
            if gold is None and len(nums) <= self.SEARCH_MAX:
                steps = next(countdown_core.search(tuple(nums), target), None)
                gold = None if steps is None else countdown_chat.gold(nums, target, steps)
            cache[problem.id] = gold
        return cache[problem.id]

    def solve(self, problem: Problem) -> str:
        text = self._gold_text(problem)
        return text if text is not None else f"<answer>{problem.data['answer']}</answer>"

    def _gold_answer(self, problem: Problem) -> str:
        return last_answer(self.solve(problem), MAX_TAG_CHARS) or problem.data["answer"]

    def verify(self, problem: Problem, completion: str) -> Verdict:
        text = read_completion(problem, completion)
        if isinstance(text, Verdict):
            return text
        return countdown_chat.verify(self._numbers(problem), text)


def make(name: str) -> type[Task]:
    """The Task class of reasoning-gym dataset ``name`` (ValueError for an unknown name)."""
    names = available()
    if name not in names:
        raise ValueError(
            f"task: unknown reasoning-gym dataset {name!r} in 'rg:{name}'; see the {len(names)} names with "
            f"`sparring tasks` (e.g. rg:{names[0]}, rg:chain_sum, rg:countdown)"
        )
    from reasoning_gym.factory import DATASETS

    _, config_cls = DATASETS[name]
    fields = []
    for f in dataclasses.fields(config_cls):
        if f.name in HIDDEN:
            continue
        default = _jsonable(f.default if f.default is not dataclasses.MISSING else f.default_factory())
        default = rg.INDEX_SPACE if f.name == "size" else default  # draw from a million items, not 500
        if getattr(default, "__hash__", None) is None:  # a mutable default: a fresh copy each time
            spec = dataclasses.field(default_factory=lambda d=default: copy.deepcopy(d))
        else:
            spec = dataclasses.field(default=default)
        fields.append((f.name, Any, spec))
    config = dataclasses.make_dataclass(f"Rg_{name}_Config", fields, bases=(GymConfig,))
    config.task_name = f"{PREFIX}:{name}"
    config.dataset_name = name
    base = GymCountdown if name == "countdown" else GymTask
    return type(f"Rg_{name}", (base,), {"name": f"{PREFIX}:{name}", "config_cls": config, "dataset_name": name})
