"""The config base class every training method's config extends.

A method config is a dataclass; every field has a default and a ``help`` text in its
metadata (``sparring train --help`` prints them). ``validate()`` raises ``ValueError``
naming the field and what is allowed. ``from_any`` accepts an instance, a dict, a path to
a YAML/JSON file, or None (the defaults), and rejects unknown options by name.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C", bound="MethodConfig")


def opt(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with a help text (mutable defaults are copied per instance)."""
    if isinstance(default, (list, dict)):
        value = default
        return field(default_factory=lambda: json.loads(json.dumps(value)), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class MethodConfig:
    """Options shared by every method."""

    seed: int = opt(0, "Seed for data, initialisation order and sampling.")
    device: str | None = opt(None, "cpu, cuda, cuda:N, mps; None picks CUDA if available.")
    eval_problems: int = opt(500, "Held-out test problems for the greedy accuracy in run.json (0: skip).")
    eval_max_new_tokens: int | None = opt(
        None, "Generation limit for that evaluation (None: 96 tokens in char style, 320 in chat style)."
    )
    eval_before: bool = opt(True, "Also evaluate the base before training (run.json metrics.before).")
    logging_steps: int = opt(10, "Log training metrics every N optimizer steps.")
    show_progress: bool = opt(True, "Show a progress bar of the budget.")
    checkpoint_every: str | None = opt(
        "auto",
        "Write a resumable training checkpoint every N steps or minutes ('50steps', '5min') "
        "into OUT.resume/ (the last two kept, removed when the run ends); `--resume` "
        "continues from it. auto: every 10 minutes, so shorter runs write none; off: never "
        "(docs/resume.md).",
    )
    report_to: str = opt(
        "none",
        "Where training logs go (TRL's report_to): none, tensorboard (installed with sparring; "
        "logs in log_dir), wandb or trackio (install them yourself); docs/distributed.md.",
    )
    fsdp: bool = opt(
        False,
        "With several processes: shard weights, gradients and optimizer state (FSDP2, "
        "fully_shard) instead of replicating them (DDP); docs/distributed.md.",
    )
    log_dir: str = opt("", "TensorBoard's folder with report_to tensorboard (empty: OUT.tensorboard/ beside OUT).")

    style: str = opt(
        "auto",
        "Prompt format: char (sparring's char models: raw prompt, bare steps), chat (a "
        "natural-language user message through the tokenizer's chat template, free "
        "reasoning, the answer in <answer> tags), auto (char for sparring's char tokenizer, "
        "else chat). Recipes, rollouts, the critic prompt and the evaluation all follow it.",
    )
    lora: dict = opt(
        {},
        "LoRA through peft instead of a full fine-tune: {r, alpha (None: 2r), dropout, target_modules "
        "('all-linear' or names)}; --set lora.r=16. Empty: full fine-tune. The checkpoint is an adapter.",
    )
    system_prompt: str | None = opt(None, "Chat style: a system message before every prompt (None: the template's).")
    enable_thinking: bool | None = opt(
        None, "Chat style: passed to chat templates with a thinking mode (None: the template's default)."
    )

    method_name = "base"

    # ---- construction ----------------------------------------------------------------
    @classmethod
    def from_any(cls: type[C], config: Any = None, **overrides: Any) -> C:
        if config is None:
            data: dict[str, Any] = {}
        elif isinstance(config, cls):
            data = asdict(config)
        elif isinstance(config, MethodConfig):
            raise ValueError(
                f"config: a {type(config).__name__} was given to method "
                f"{cls.method_name!r}, which takes a {cls.__name__}"
            )
        elif isinstance(config, dict):
            data = dict(config)
        elif isinstance(config, (str, os.PathLike)):
            data = load_config_file(config)
        else:
            raise ValueError(f"config: expected a dict, a {cls.__name__} or a file path, got {type(config).__name__}")
        data.update(overrides)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{cls.method_name}: unknown option(s) {unknown}; options are {sorted(names)}")
        cfg = cls(**data)
        cfg.validate()
        return cfg

    @classmethod
    def options(cls) -> list[tuple[str, Any, str]]:
        """(name, default, help) for every option, in declaration order."""
        out = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            out.append((f.name, default, f.metadata.get("help", "")))
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # ---- validation --------------------------------------------------------------------
    def validate(self) -> None:
        self.check_int("seed", lo=0)
        if self.device is not None and not isinstance(self.device, str):
            raise ValueError(
                f"{self.method_name}.device: must be a string such as 'cpu' or 'cuda', got {self.device!r}"
            )
        self.check_int("eval_problems", lo=0)
        if self.eval_max_new_tokens is not None:
            self.check_int("eval_max_new_tokens", lo=1)
        from sparring.models.style import check_style

        check_style(self.style, f"{self.method_name}.style")
        self.chat_format()
        self.lora_options()
        self.check_bool("eval_before")
        self.check_int("logging_steps", lo=1)
        self.check_bool("show_progress")
        from .budget import parse_every

        parse_every(self.checkpoint_every, f"{self.method_name}.checkpoint_every")
        from .reporting import check_report_to

        check_report_to(self.report_to, f"{self.method_name}.report_to")
        self.check_bool("fsdp")
        if not isinstance(self.log_dir, str):
            raise self._err("log_dir", "must be a folder path (text)")

    def chat_format(self):
        """The chat switches (system prompt, thinking mode), checked."""
        from sparring.models.style import ChatFormat

        return ChatFormat(self.system_prompt, self.enable_thinking).validate(self.method_name)

    def lora_options(self):
        """The parsed ``lora`` option (None: a full fine-tune)."""
        from .lora import LoraOptions

        return LoraOptions.parse(self.lora, f"{self.method_name}.lora")

    def eval_tokens(self) -> int:
        """The evaluation's generation limit in this config's (resolved) style."""
        from sparring.models.style import CHAT_EVAL_TOKENS

        if self.eval_max_new_tokens is not None:
            return self.eval_max_new_tokens
        return CHAT_EVAL_TOKENS if self.style == "chat" else 96

    def _err(self, name: str, msg: str) -> ValueError:
        return ValueError(f"{self.method_name}.{name}: {msg} (got {getattr(self, name)!r})")

    def check_int(self, name: str, lo: int | None = None, hi: int | None = None) -> None:
        v = getattr(self, name)
        if not isinstance(v, int) or isinstance(v, bool):
            raise self._err(name, "must be an integer")
        if lo is not None and v < lo:
            raise self._err(name, f"must be >= {lo}")
        if hi is not None and v > hi:
            raise self._err(name, f"must be <= {hi}")

    def check_float(self, name: str, lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> None:
        v = getattr(self, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise self._err(name, "must be a finite number")
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise self._err(name, f"must be {'>' if lo_open else '>='} {lo}")
        if hi is not None and v > hi:
            raise self._err(name, f"must be <= {hi}")

    def check_bool(self, name: str) -> None:
        if not isinstance(getattr(self, name), bool):
            raise self._err(name, "must be true or false")

    def check_choice(self, name: str, choices) -> None:
        v = getattr(self, name)
        if v not in choices:
            raise self._err(name, f"must be one of {sorted(choices)}")

    def check_dict(self, name: str) -> None:
        if not isinstance(getattr(self, name), dict):
            raise self._err(name, "must be a mapping of option names to values")

    def check_resolved(self, task: Any) -> None:
        """Checks that need the resolved style (``common.with_style`` calls this once ``auto``
        is decided, before any model loads); none by default."""

    def check_task(self, task: Any) -> None:
        """Fail in one line, before any work, if ``task`` lacks a capability this config's
        corpus recipe needs (a dataset directory brings its own rows and needs none)."""
        recipe = getattr(self, "recipe", None)
        from sparring.corpus import OPTIONS, recipe_needs

        if isinstance(recipe, str) and recipe in OPTIONS:
            for capability in recipe_needs(recipe, getattr(self, "recipe_options", None)):
                task.require(capability, by=f"{self.method_name} (recipe {recipe!r})")

    # ---- checks of the option groups several methods share ----------------------------
    def check_data_options(self) -> None:
        """``recipe`` (a recipe name or dataset dir), ``recipe_options``, ``n``."""
        if not isinstance(self.recipe, str) or not self.recipe:
            raise self._err("recipe", "must be a recipe name or a dataset directory")
        self.check_dict("recipe_options")
        self.check_int("n", lo=1)

    def check_optimizer_options(self) -> None:
        """``learning_rate``, ``warmup_steps``, ``min_lr_ratio``, ``max_grad_norm``."""
        self.check_float("learning_rate", lo=0.0, hi=1.0, lo_open=True)
        self.check_int("warmup_steps", lo=0)
        self.check_float("min_lr_ratio", lo=0.0, hi=1.0)
        self.check_float("max_grad_norm", lo=0.0, lo_open=True)


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON mapping of options."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"config: no such file: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:  # noqa: BLE001 - any parse error becomes one clear message
        raise ValueError(f"config: cannot parse {p}: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config: {p} must hold a mapping of option names to values")
    return data
