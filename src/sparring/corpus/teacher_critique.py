"""LLM-teacher critiques and LLM-generated candidates for the CFT recipes (METHODS.md 1.2-1.3).

The recipes ``critique`` and ``one_shot_critique`` take these options (``TeacherOptions``)::

    teachers: [{"url": "http://127.0.0.1:8000/v1", "model": "NAME"}]   # critics; [] = programmatic
    teacher_layout: steps      # steps: Step k / Correctness / Explanation blocks; cft: free-form
    teacher_filter: verdict    # verdict | first_error | none
    teacher_system: null       # null: the layout's format instruction; "": no system message
    teacher_max_tokens: 512, teacher_temperature: 0.0, teacher_concurrency: 8,
    teacher_retries: 3, teacher_timeout: 120, teacher_cache: null (~/.cache/sparring/teacher)

A critique request is ``[system: format instruction, user: the published CFT prompt]``
(the user text without its trailing newline; the stop string is ``[END]``). The reply is
parsed with ``parse_critique`` (never evaluated) and **kept only if it agrees with the
task's verifier**: ``verdict`` compares the Conclusion (right/wrong) with ``task.verify``;
``first_error`` also needs the first step marked wrong to be the verifier's first error
(``steps`` layout); ``none`` keeps every critique that has a Conclusion. A kept reply is
stored as ``Critique:\\n{body}\\nConclusion: right|wrong [END]`` (text after the
Conclusion line dropped), so the rows read like the programmatic teacher's.

Counts (the ``teacher`` entry of the data card): per teacher ``asked`` = ``kept`` +
``rejected`` + ``failed``, with the reasons (``no_verdict``, ``verdict``, ``first_error``;
``connection``, ``http_500``, ``malformed``, ...).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..tasks.base import Problem, Task
from .common import Options, is_int, need
from .critique_format import END, critique_prompt, parse_critique, true_first_error
from .teacher import Endpoint, Reply, Request, TeacherPool, clean_text, parse_endpoints

LAYOUTS: dict[str, str] = {
    "steps": (
        "Judge the solution step by step in blocks 'Step k: <step>', 'Correctness: correct|wrong', "
        "'Explanation: <why>', stopping at the first wrong step (if none is wrong, a last block "
        "'Final: <answer>'). Start with 'Critique:' and end with 'Conclusion: right|wrong'."
    ),
    "cft": "Critique the solution step by step. Start with 'Critique:' and end with 'Conclusion: right|wrong'.",
}
FILTERS = ("verdict", "first_error", "none")
GENERATE_SYSTEM = ""  # candidates: the task's own prompt, no system message
MAX_BODY_CHARS = 8_000
REPORT_KEY = "sparring.teacher"


@dataclass
class TeacherOptions(Options):
    """The LLM-teacher options the CFT recipes share (see the module doc)."""

    teachers: Any = field(default_factory=list)
    teacher_layout: str = "steps"
    teacher_filter: str = "verdict"
    teacher_system: str | None = None
    teacher_max_tokens: int = 512
    teacher_temperature: float = 0.0
    teacher_concurrency: int = 8
    teacher_retries: int = 3
    teacher_timeout: float = 120.0
    teacher_cache: str | None = None

    def validate_teachers(self) -> None:
        r = self.recipe
        self.teachers = list(parse_endpoints(self.teachers, f"{r}.teachers"))
        need(
            self.teacher_layout in LAYOUTS,
            r,
            "teacher_layout",
            f"must be one of {sorted(LAYOUTS)}",
            self.teacher_layout,
        )
        need(
            self.teacher_filter in FILTERS, r, "teacher_filter", f"must be one of {list(FILTERS)}", self.teacher_filter
        )
        need(
            self.teacher_filter != "first_error" or self.teacher_layout == "steps",
            r,
            "teacher_filter",
            "first_error needs teacher_layout 'steps' (a cft critique marks no steps)",
            self.teacher_filter,
        )
        need(
            self.teacher_system is None or (isinstance(self.teacher_system, str) and len(self.teacher_system) < 20_000),
            r,
            "teacher_system",
            "must be null (the layout's instruction) or a string ('' for none)",
            self.teacher_system,
        )
        for name, lo, hi in (("teacher_max_tokens", 1, 1_000_000), ("teacher_concurrency", 1, 256)):
            v = getattr(self, name)
            need(is_int(v) and lo <= v <= hi, r, name, f"must be an integer in {lo}..{hi}", v)
        need(
            is_int(self.teacher_retries) and 0 <= self.teacher_retries <= 20,
            r,
            "teacher_retries",
            "must be 0..20",
            self.teacher_retries,
        )
        for name, lo, hi in (("teacher_temperature", 0.0, 5.0), ("teacher_timeout", 0.1, 86_400.0)):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi
            need(ok, r, name, f"must be a number in [{lo}, {hi}]", v)
        need(
            self.teacher_cache is None or (isinstance(self.teacher_cache, str) and self.teacher_cache),
            r,
            "teacher_cache",
            "must be null (~/.cache/sparring/teacher) or a directory",
            self.teacher_cache,
        )

    def pool(self, endpoints: list[Endpoint]) -> TeacherPool:
        return TeacherPool(
            endpoints,
            cache_dir=self.teacher_cache,
            concurrency=self.teacher_concurrency,
            retries=self.teacher_retries,
            timeout=self.teacher_timeout,
        )

    def system(self) -> str:
        return LAYOUTS[self.teacher_layout] if self.teacher_system is None else self.teacher_system


def messages(system: str, user: str) -> tuple[tuple[str, str], ...]:
    """The chat messages of a request: an optional system message, then the user text
    without its trailing newline (chat templates add their own separators)."""
    user = user.rstrip("\n")
    return ((("system", system),) if system else ()) + (("user", user),)


def critique_messages(o: TeacherOptions, question: str, solution: str) -> tuple[tuple[str, str], ...]:
    """What a critic is sent: the layout's instruction and the published CFT prompt."""
    return messages(o.system(), critique_prompt(question, solution))


def normalize(text: str, verdict: str) -> str:
    """``Critique:\\n{body}\\nConclusion: {verdict} [END]`` from a reply (bounded, cleaned)."""
    lines = clean_text(text).split("\n")
    body = []
    for line in lines:
        if line.strip().lower().startswith("conclusion"):
            break
        body.append(line.rstrip())
    while body and not body[0].strip():
        body.pop(0)
    if body and body[0].strip().lower() == "critique:":
        body.pop(0)
    text = "\n".join(body).strip("\n")[:MAX_BODY_CHARS]
    return f"Critique:\n{text}\nConclusion: {verdict} {END}" if text else f"Critique:\nConclusion: {verdict} {END}"


def judge(o: TeacherOptions, task: Task, problem: Problem, solution: str, text: str) -> tuple[str | None, str]:
    """``(completion, "")`` for a kept critique, ``(None, reason)`` for a rejected one."""
    verdict, first = parse_critique(text)
    if verdict is None:
        return None, "no_verdict"
    truth = task.verify(problem, solution)
    if o.teacher_filter != "none":
        if (verdict == "right") != truth.correct:
            return None, "verdict"
        if o.teacher_filter == "first_error" and not truth.correct and first != true_first_error(truth):
            return None, "first_error"
    return normalize(text, verdict), ""


@dataclass
class Tally:
    """Kept / rejected counts per endpoint, next to the pool's request counts."""

    kept: Counter = field(default_factory=Counter)
    rejected: dict[int, Counter] = field(default_factory=dict)

    def add(self, endpoint: int, reason: str) -> None:
        if reason:
            self.rejected.setdefault(endpoint, Counter())[reason] += 1
        else:
            self.kept[endpoint] += 1


def critique_all(
    o: TeacherOptions,
    task: Task,
    items: list[tuple[Problem, str, str]],
    samples: int = 1,
    seed: int = 0,
    every_teacher: bool = False,
) -> tuple[list[tuple[Problem, str, str, str]], dict[str, Any]]:
    """Critiques of ``items`` (problem, question, solution) by ``o.teachers``.

    By default item i goes to teacher ``i % len(teachers)`` (round robin, ``samples``
    requests per item); ``every_teacher``: every teacher critiques every item ``samples``
    times. Request seeds are ``seed + s``. Returns the kept ``(problem, prompt, completion,
    label)`` rows and the card entry with the counts."""
    pool = o.pool(o.teachers)
    reqs, meta = [], []
    for i, (p, question, y) in enumerate(items):
        who = range(len(o.teachers)) if every_teacher else [i % len(o.teachers)]
        pairs = [(t, s) for t in who for s in range(samples)]
        for t, s in pairs:
            msgs = critique_messages(o, question, y)
            reqs.append(Request(t, msgs, o.teacher_max_tokens, float(o.teacher_temperature), seed + s, (END,)))
            meta.append((p, question, y))
    replies = pool.run(reqs, desc=f"{o.recipe}: teacher critiques")
    tally, rows = Tally(), []
    for req, reply, (p, question, y) in zip(reqs, replies, meta):
        if reply.error is not None:
            continue
        completion, why = judge(o, task, p, y, reply.text or "")
        tally.add(req.endpoint, why)
        if completion is not None:
            truth = "right" if task.verify(p, y).correct else "wrong"
            rows.append((p, critique_prompt(question, y), completion, f"critique:{truth}"))
    return rows, report(o, pool, tally, "critics")


def generate_candidates(
    o: TeacherOptions, generators: list[Endpoint], prompt: str, samples: int, temperature: float, seed: int
) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """``samples`` solutions of ``prompt`` from each generator (request seeds ``seed + s``):
    the distinct non-empty ones as ``(text, generator index)`` in request order, and the
    card entry (per generator: asked, failed, distinct candidates it contributed)."""
    pool = o.pool(generators)
    msgs = messages(GENERATE_SYSTEM, prompt)
    reqs = [
        Request(g, msgs, o.teacher_max_tokens, float(temperature), seed + s, ())
        for g in range(len(generators))
        for s in range(samples)
    ]
    replies: list[Reply] = pool.run(reqs, desc=f"{o.recipe}: candidate solutions")
    seen: dict[str, int] = {}
    for req, reply in zip(reqs, replies):
        text = (reply.text or "").strip()[:MAX_BODY_CHARS]
        if reply.error is None and text:
            seen.setdefault(text, req.endpoint)
    entry = report(o, pool, Tally(), "generators")
    contributed = Counter(seen.values())
    for g, item in enumerate(entry["endpoints"]):
        item["distinct_candidates"] = contributed[g]
        item.pop("kept"), item.pop("rejected"), item.pop("rejections")
    entry.pop("layout"), entry.pop("filter")
    entry["totals"] = {"asked": len(reqs), "distinct_candidates": len(seen)}
    return list(seen.items()), entry


def report(o: TeacherOptions, pool: TeacherPool, tally: Tally, role: str) -> dict[str, Any]:
    """The card entry: the endpoints (never their keys) and the counts, which add up:
    per endpoint ``asked = kept + rejected + failed``."""
    items = []
    for i, (ep, st) in enumerate(zip(pool.endpoints, pool.stats)):
        rej = tally.rejected.get(i, Counter())
        items.append(
            {
                **ep.card(),
                **st.card(),
                "kept": tally.kept[i],
                "rejected": sum(rej.values()),
                "rejections": dict(sorted(rej.items())),
            }
        )
    totals = {k: sum(it[k] for it in items) for k in ("asked", "cached", "requests", "failed", "kept", "rejected")}
    return {"role": role, "layout": o.teacher_layout, "filter": o.teacher_filter, "endpoints": items, "totals": totals}


def attach(ds, entries: dict[str, Any]):
    """Record the teacher card entries on the dataset (``DatasetInfo.description``)."""
    ds.info.description = json.dumps({REPORT_KEY: entries}, sort_keys=True)
    return ds


def teacher_card(ds) -> dict[str, Any] | None:
    """The teacher entries ``attach`` recorded, or None."""
    try:
        data = json.loads(ds.info.description or "")
    except (ValueError, TypeError, AttributeError):
        return None
    return data.get(REPORT_KEY) if isinstance(data, dict) else None
