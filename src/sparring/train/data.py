"""Datasets for training: corpus recipes, user datasets, and what each method needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparring.corpus import fingerprint, is_dataset_path, teacher_card
from sparring.tasks import Task

from .common import require_columns


def recipe_dataset(
    recipe: str,
    task: Task,
    n: int,
    seed: int,
    options: dict | None = None,
    *,
    columns: tuple[str, ...] = ("prompt", "completion"),
    what: str = "train",
    style: str = "char",
):
    """Build ``n`` rows of a ``sparring.corpus`` recipe in ``style`` (unless its options
    name a style), or load a saved dataset when ``recipe`` is a directory path (its rows
    are used as they are: strings, or conversations); check it has ``columns``. Returns
    (dataset, data card)."""
    if not isinstance(recipe, str) or not recipe:
        raise ValueError(f"{what}.recipe: expected a recipe name or a dataset directory, got {recipe!r}")
    if is_dataset_path(recipe):
        ds = load_dataset_dir(recipe)
        source: dict[str, Any] = {"dataset": str(Path(recipe).expanduser().absolute())}
    else:
        from sparring import corpus

        options = dict(options or {})
        if style != "char":  # char is every recipe's default: its options (and data hash) stay as they were
            options.setdefault("style", style)
        try:
            ds = corpus.build(recipe, task, n, seed, **options)
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
        source = {"recipe": recipe, "n": n, "seed": seed, "options": options}
    if teacher := teacher_card(ds):  # LLM-teacher counts (kept / rejected / failed)
        source["teacher"] = teacher
    require_columns(ds, columns, what)
    return ds, {**source, "rows": len(ds), "hash": fingerprint(ds)}


def config_dataset(cfg, task: Task, *, columns: tuple[str, ...], what: str):
    """:func:`recipe_dataset` of a method config: its recipe, n, seed, recipe options and
    (resolved) style."""
    return recipe_dataset(
        cfg.recipe, task, cfg.n, cfg.seed, cfg.recipe_options, columns=columns, what=what, style=cfg.style
    )


def load_dataset_dir(path: str):
    """A dataset saved with ``datasets.Dataset.save_to_disk`` (what ``sparring data build`` writes)."""
    from datasets import load_from_disk

    p = Path(path).expanduser()
    if not p.is_dir():
        raise ValueError(f"recipe: no such dataset directory: {p}")
    try:
        ds = load_from_disk(str(p))
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"recipe: cannot load a dataset from {p}: {err}") from None
    if hasattr(ds, "keys") and not hasattr(ds, "column_names"):  # DatasetDict
        if "train" not in ds:
            raise ValueError(f"recipe: {p} holds splits {list(ds.keys())}, none named 'train'")
        ds = ds["train"]
    return ds


def is_conversational(ds) -> bool:
    """Whether ``ds``'s prompts are conversations (lists of messages), TRL's format."""
    return len(ds) > 0 and isinstance(ds[0]["prompt"], list)


def chat_texts(tokenizer, prompts: list, completions: list, fmt=None) -> tuple[list[str], list[str]]:
    """(prompt text, completion text) of conversational rows through the chat template:
    the prompt (after ``fmt``'s system message) rendered with the assistant turn opened; the
    completion is what the whole conversation adds after it (the assistant's content and
    the template's end of turn). A template that rewrites earlier turns when a later one
    is added (so the prompt is no prefix of the whole) is one clear error."""
    from sparring.models.style import ChatFormat, render_chat

    fmt = fmt or ChatFormat()
    p_texts, c_texts = [], []
    for prompt, completion in zip(prompts, completions):
        messages = fmt.apply(prompt)
        head = render_chat(tokenizer, messages, fmt, generation_prompt=True)
        whole = render_chat(tokenizer, [*messages, *completion], fmt, generation_prompt=False)
        if not whole.startswith(head):
            raise ValueError(
                "chat template: the rendered prompt is not a prefix of the rendered conversation, so the "
                "loss cannot be put on the answer alone (a template that rewrites earlier turns)"
            )
        p_texts.append(head)
        c_texts.append(whole[len(head) :])
    return p_texts, c_texts


def tokenize_sft(ds, tokenizer, max_length: int, drop_long: bool = False, chat_format=None):
    """Pre-tokenize prompt/completion rows for TRL's SFTTrainer (which then skips its own
    per-row tokenization): ``input_ids`` = prompt + completion + EOS, ``labels`` = -100 on
    the prompt, so the loss falls on the completion and EOS only; truncated to ``max_length``
    (rows whose completion is cut away entirely are dropped); with ``drop_long`` rows longer
    than ``max_length`` are dropped instead of truncated.

    Conversational rows (chat style) go through the tokenizer's chat template
    (:func:`chat_texts`, with ``chat_format``'s system message and keywords): the template
    writes the BOS and the end-of-turn token, so nothing is added when encoding; the
    completion ends at the tokenizer's EOS (what the template writes after it, such as
    ChatML's newline, is never generated), which is appended when the template has none."""
    eos = tokenizer.eos_token_id
    chat = is_conversational(ds)

    def fn(batch):
        prompts, completions = batch["prompt"], batch["completion"]
        if chat:
            prompts, completions = chat_texts(tokenizer, prompts, completions, chat_format)
        p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(completions, add_special_tokens=False)["input_ids"]
        ids, labels = [], []
        for p, c in zip(p_ids, c_ids):
            c = c[: c.index(eos) + 1] if chat and eos in c else c + [eos]  # nothing after the end of turn
            if len(p) >= max_length or (drop_long and len(p) + len(c) > max_length):
                continue
            ids.append((p + c)[:max_length])
            labels.append(([-100] * len(p) + c)[:max_length])
        return {"input_ids": ids, "labels": labels}

    return ds.map(
        fn, batched=True, batch_size=2048, remove_columns=ds.column_names, desc="tokenizing", load_from_cache_file=False
    )


def prompt_dataset(
    task: Task,
    n: int,
    seed: int,
    recipe: str = "imitation",
    options: dict | None = None,
    what: str = "grpo",
    style: str = "char",
    chat_format=None,
):
    """Prompts + problems for RL: a recipe's rows in ``style``, one per problem, completions
    dropped; conversational prompts get ``chat_format``'s system message (TRL renders them
    through the chat template)."""
    ds, card = recipe_dataset(recipe, task, n, seed, options, columns=("prompt", "problem"), what=what, style=style)
    if "problem_id" in ds.column_names:
        seen: set[str] = set()
        keep = []
        for i, pid in enumerate(ds["problem_id"]):
            if pid not in seen:
                seen.add(pid)
                keep.append(i)
        if len(keep) < len(ds):
            ds = ds.select(keep)
    drop = [c for c in ds.column_names if c not in ("prompt", "problem", "problem_id", "level")]
    ds = ds.remove_columns(drop)
    if chat_format is not None and chat_format.system and is_conversational(ds):
        ds = ds.map(lambda row: {"prompt": chat_format.apply(row["prompt"])}, desc="system prompt")
    card["rows"] = len(ds)
    return ds, card


class BucketBatchSampler:
    """Row order for the DataLoader such that every ``batch_size`` consecutive rows come
    from one length bucket (<= 64 tokens, <= 128, <= 256, ...), buckets shuffled inside and
    batches shuffled across buckets. Short rows stay randomly mixed (unlike length-sorted
    grouping, which makes batches of near-identical rows and hurt training here), while the
    rare long rows (search traces) no longer pad a whole batch of short ones.

    Inside a batch the rows come shortest first: when the Trainer splits an optimizer step
    into gradient-accumulation passes, each pass holds rows of similar length and pads less
    (imitation rows, 2 passes: 8.9% padding instead of 14.9%). The step's rows, and so its
    update, are the same; only which pass computes which row changes.

    The order of an epoch is a pure function of ``(seed, epoch)``. The Trainer calls
    ``set_epoch`` before each epoch (also the one it resumes in, after which it skips the
    batches already trained), so a resumed run sees the rows an uninterrupted one would;
    iterated without ``set_epoch``, each pass moves on to the next epoch."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0, smallest: int = 64, full_only: bool = False):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        # several ranks: only whole batches (accelerate would complete a short one with rows
        # from the epoch's start); a bucket's remainder waits for the next epoch's shuffle
        self.full_only = full_only
        self.seed = seed
        self.epoch = 0
        self.buckets: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            b, edge = 0, smallest
            while n > edge:
                b, edge = b + 1, edge * 2
            self.buckets.setdefault(b, []).append(i)

    def __len__(self) -> int:
        if self.full_only:
            return sum(len(v) - len(v) % self.batch_size for v in self.buckets.values())
        return sum(len(v) for v in self.buckets.values())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        import random

        rng = random.Random(f"{self.seed}-{self.epoch}")
        self.epoch += 1
        batches = []
        for b in sorted(self.buckets):
            rows = list(self.buckets[b])
            rng.shuffle(rows)
            batches += [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        full = [x for x in batches if len(x) == self.batch_size]
        rng.shuffle(full)
        rest = [] if self.full_only else [x for x in batches if len(x) < self.batch_size]
        for batch in full + rest:
            yield from sorted(batch, key=self.lengths.__getitem__)
