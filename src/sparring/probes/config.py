"""Probe settings, problem selection, and generation-length caps shared by all probes.

Every probe draws its problems through :func:`select` (held-out ``test`` split or an OOD
level, ``config.n`` of them, ``config.seed``), so probes run on the same model share
prompts and therefore generations (see the responder's cache).

Length caps come from the task, not from a global constant: :func:`answer_cap` is twice
the longest gold completion of the problems at hand, in the responder's tokens, plus a
margin of 8, capped by ``max_new_tokens_cap``. Countdown-3 gold solutions are <= 20
characters, so a model that never emits EOS (an untrained one) costs ~48 tokens per
prompt, not 1024. With ``traces=True`` the gold is the task's search trace instead
(Stream-of-Search models write long traces).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sparring.evaluation.critique import CAP_LIMIT, FLAWED_FRACTION, QUESTION_STYLES
from sparring.models.style import CHAT_MIN_NEW_TOKENS, STYLE_CHOICES, ChatFormat
from sparring.tasks import Problem, Task, get_task

ANSWER_FORMATS = ("auto", "stated")
SPLITS = ("test", "validation")  # the held-out partitions a probe may read


@dataclass
class ProbeConfig:
    """Settings for the probe battery (every field has a working default).

    n: problems per probe (per level / template where a probe has several).
    seed: selects problems, samples, negation templates and bootstrap resamples.
    n_resamples: bootstrap resamples per interval.
    batch_size: prompts per generation batch (before ``n_samples`` expansion).
    max_new_tokens: fixed generation cap; None derives it from the gold (see module doc).
    max_new_tokens_cap: upper bound on derived caps.
    traces: derive caps from search traces (for Stream-of-Search models).
    style: "auto" (chat for any tokenizer that is not sparring's char tokenizer), "char"
        (raw char prompts) or "chat" (the task's natural-language prompts as user messages
        through the chat template, answers in ``<answer>`` tags); multi-turn
        conversations always go through the template when the tokenizer has one.
    system_prompt / enable_thinking: chat style's system message and thinking switch.
    chat: deprecated alias of ``style="chat"`` (``sparring probe --chat``).
    levels: OOD levels for ``accuracy`` (None: all of the task's levels).
    passk_samples / passk_ks / temperature: sampling for ``passk``.
    abstain_fraction: share of unsolvable problems in the ``abstain`` mix.
    critique_flawed_fraction: share of flawed (vs. gold) solutions shown to ``critique``.
    critique_max_new_tokens: cap for critiques (None: derived from reference critiques).
    critique_question: the question x in the critique prompt: "prompt" (canonical prompt,
        stripped) or "words" (``task.question``), as in the corpus's critique recipe.
    answer_format: where ``infogain`` / ``confidence`` read the answer
        (``sparring.tasks.continuation``, docs/probes.md): ``"auto"`` (in the chat style;
        the char style states no answer, so these probes report n/a) or ``"stated"``
        (after char prompts, for char models trained to state the answer in its tag).
    confidence_points: truncation points per trajectory in ``confidence``.
    flat_high_threshold: a trajectory is "flat-high" when every point is >= this.
    templates: prompt templates for ``sensitivity`` (None: all).
    split: the held-out partition the probes read: "test" (reports) or "validation"
        (choosing a design, e.g. the v2 base's size, without looking at test problems).
    """

    n: int = 500
    seed: int = 0
    n_resamples: int = 1000
    batch_size: int = 512
    max_new_tokens: int | None = None
    max_new_tokens_cap: int = CAP_LIMIT
    traces: bool = False
    style: str = "auto"
    system_prompt: str | None = None
    enable_thinking: bool | None = None
    chat: bool = False
    levels: tuple[str, ...] | None = None
    passk_samples: int = 16
    passk_ks: tuple[int, ...] = (1, 4, 16)
    temperature: float = 1.0
    abstain_fraction: float = 0.5
    critique_flawed_fraction: float = FLAWED_FRACTION
    critique_max_new_tokens: int | None = None
    critique_question: str = "prompt"
    answer_format: str = "auto"
    confidence_points: int = 5
    flat_high_threshold: float = 0.5
    templates: tuple[int, ...] | None = None
    split: str = "test"

    def validate(self) -> "ProbeConfig":
        def need(ok: bool, name: str, msg: str) -> None:
            if not ok:
                raise ValueError(f"probe config {name}: {msg} (got {getattr(self, name)!r})")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        for name in ("n", "n_resamples", "batch_size", "passk_samples", "confidence_points"):
            need(is_int(getattr(self, name)) and getattr(self, name) > 0, name, "must be a positive integer")
        need(is_int(self.seed) and self.seed >= 0, "seed", "must be a non-negative integer")
        for name in ("max_new_tokens", "critique_max_new_tokens"):
            v = getattr(self, name)
            need(v is None or (is_int(v) and v > 0), name, "must be None or a positive integer")
        need(
            is_int(self.max_new_tokens_cap) and self.max_new_tokens_cap > 0,
            "max_new_tokens_cap",
            "must be a positive integer",
        )
        self.passk_ks = tuple(self.passk_ks)
        need(
            bool(self.passk_ks) and all(is_int(k) and 1 <= k <= self.passk_samples for k in self.passk_ks),
            "passk_ks",
            f"must be integers in 1..passk_samples={self.passk_samples}",
        )
        need(isinstance(self.temperature, (int, float)) and self.temperature > 0, "temperature", "must be > 0")
        for name in ("abstain_fraction", "critique_flawed_fraction", "flat_high_threshold"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and 0.0 <= v <= 1.0, name, "must be in [0, 1]")
        need(self.style in STYLE_CHOICES, "style", f"must be one of {list(STYLE_CHOICES)}")
        need(isinstance(self.chat, bool), "chat", "must be true or false")
        if self.chat and self.style == "auto":
            self.style = "chat"  # the deprecated alias
        self.chat_format()
        need(self.critique_question in QUESTION_STYLES, "critique_question", f"must be one of {list(QUESTION_STYLES)}")
        need(
            isinstance(self.answer_format, str) and self.answer_format.strip() != "",
            "answer_format",
            f"must be a non-empty string such as one of {ANSWER_FORMATS}",
        )
        need(self.split in SPLITS, "split", f"must be one of {list(SPLITS)}")
        if self.levels is not None:
            self.levels = tuple(self.levels)
        if self.templates is not None:
            self.templates = tuple(self.templates)
            need(
                len(self.templates) >= 2 and all(is_int(t) and t >= 0 for t in self.templates),
                "templates",
                "must list at least two template indices",
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def chat_format(self) -> ChatFormat:
        return ChatFormat(self.system_prompt, self.enable_thinking).validate("probe config")

    def templates_of(self, task: Task) -> int:
        """How many prompt templates ``task`` has in this config's style."""
        return len(task.chat_templates if self.style == "chat" else task.templates)


def as_config(config: ProbeConfig | dict | None = None, **overrides: Any) -> ProbeConfig:
    """A validated ProbeConfig from None, a dict or a ProbeConfig, plus overrides."""
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, ProbeConfig):
        base = config.to_dict()
    elif isinstance(config, dict):
        base = dict(config)
    else:
        raise ValueError(f"probe config: expected a ProbeConfig or dict, got {type(config).__name__}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    allowed = {f.name for f in fields(ProbeConfig)}
    unknown = sorted(set(base) - allowed)
    if unknown:
        raise ValueError(f"probe config: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    return ProbeConfig(**base).validate()


def select(task: Task, split: str, cfg: ProbeConfig) -> list[Problem]:
    """The ``cfg.n`` problems of ``split`` a probe uses (deterministic in ``cfg.seed``);
    ``"test"`` means the config's held-out partition (``cfg.split``: test or validation)."""
    return task.problems(cfg.split if split == "test" else split, n=cfg.n, seed=cfg.seed)


def abstain_task(task: Task, cfg: ProbeConfig) -> Task:
    """The same task with ``unsolvable_fraction = cfg.abstain_fraction``."""
    conf = task.config_dict()
    return get_task(task.name, **{**conf, "unsolvable_fraction": cfg.abstain_fraction})


def gold_text(task: Task, problem: Problem, cfg: ProbeConfig) -> str:
    if cfg.style == "chat":
        return task.gold_completion(problem, "chat")
    if cfg.traces and task.has("search") and problem.solvable:
        return task.search_trace(problem)[0]
    return task.solve(problem)


def answer_cap(count_tokens, task: Task, problems: list[Problem], cfg: ProbeConfig) -> int:
    """max_new_tokens for answering ``problems``: 2 x longest gold + 8 (in chat style at
    least ``CHAT_MIN_NEW_TOKENS``: free reasoning comes before the answer), capped."""
    if cfg.max_new_tokens is not None:
        return cfg.max_new_tokens
    longest = max((count_tokens(gold_text(task, p, cfg)) for p in problems), default=16)
    floor = CHAT_MIN_NEW_TOKENS if cfg.style == "chat" else 1
    return max(1, min(cfg.max_new_tokens_cap, max(floor, 2 * longest + 8)))


def battery_problems(task: Task, cfg: ProbeConfig | dict | None = None) -> list[Problem]:
    """Every problem the battery would use with ``cfg`` (for oracles and caches)."""
    cfg = as_config(cfg)
    out = select(task, "test", cfg)
    for level in task.levels:
        if level != "id" and (cfg.levels is None or level in cfg.levels):
            out += select(task, level, cfg)
    if task.has("unsolvable"):
        out += select(abstain_task(task, cfg), "test", cfg)
    return out
