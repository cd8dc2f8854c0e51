"""Prompt styles: which format a model is prompted and trained in, decided once per model.

- ``char``: sparring's own format for its character-level models: the prompt is the raw
  text the completion follows (``4,11,17:10\\n`` then ``17-11=6\\n6+4=10``);
- ``chat``: a natural-language user message (``task.prompt(p, k, style="chat")``) rendered
  by the tokenizer's chat template, free reasoning, the final answer in
  ``<answer>...</answer>``; for any real checkpoint (Qwen, Llama, SmolLM, ...);
- ``auto`` (the default everywhere): ``char`` for sparring's char tokenizer, ``chat`` for
  any other tokenizer.

:func:`resolve_style` is the one place the choice is made and checked: chat style on a
tokenizer without a chat template, or on the char tokenizer (it has no letters beyond
printable ASCII and its models never saw prose), is one ``ValueError``.

:class:`ChatFormat` holds the two chat switches a user may set (an optional system prompt,
and ``enable_thinking`` for templates with a thinking mode, passed to the template as a
keyword) and builds the messages every layer renders: one function, so recipes, the
trainer and the probes show a model exactly the same conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .tokenizer import VOCAB

STYLES = ("char", "chat")
STYLE_CHOICES = ("auto", *STYLES)
# generation room for free-text reasoning (chat style): the char models' caps are sized for
# bare step lines (~20 characters); a chat model thinks in prose first
CHAT_MIN_NEW_TOKENS = 256
CHAT_EVAL_TOKENS = 320  # run.json's greedy evaluation in chat style (char style: 96)
CHAT_ROLLOUT_TOKENS = 256  # GRPO-family rollouts in chat style (char style: 48)


def is_char_tokenizer(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` is sparring's character tokenizer (``models/tokenizer.py``)."""
    try:
        ids = list(range(len(VOCAB)))
        return len(tokenizer) == len(VOCAB) and list(tokenizer.convert_ids_to_tokens(ids)) == list(VOCAB)
    except Exception:  # any foreign tokenizer: not ours
        return False


def check_style(style: Any, where: str = "style") -> str:
    """``style`` if it is one of ``auto``, ``char``, ``chat``; else one ValueError."""
    if style not in STYLE_CHOICES:
        raise ValueError(f"{where}: must be one of {list(STYLE_CHOICES)}, got {style!r}")
    return style


def resolve_style(style: Any, tokenizer: Any, where: str = "style") -> str:
    """``char`` or ``chat`` for a model with ``tokenizer`` (``auto`` decided by the
    tokenizer); a style the tokenizer cannot serve is one ValueError naming ``where``."""
    check_style(style, where)
    char = is_char_tokenizer(tokenizer)
    if style == "auto":
        return "char" if char else "chat"
    if style == "chat":
        if char:
            raise ValueError(
                f"{where}: chat style needs a model that reads natural language; sparring's char "
                "models were trained on the char format (use style char or auto)"
            )
        if not getattr(tokenizer, "chat_template", None):
            name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
            raise ValueError(
                f"{where}: chat style needs a tokenizer with a chat template, and {name} has none "
                "(set tokenizer.chat_template and save it, or use style char)"
            )
    return style


def style_of_model(style: Any, source: Any, where: str = "style") -> str:
    """:func:`resolve_style` for a preset, ``zoo:NAME`` or model directory (loads only
    its tokenizer); a chat preset (``presets.CHAT_PRESETS``) is chat."""
    check_style(style, where)
    from .loading import load_tokenizer
    from .presets import is_chat_preset

    if is_chat_preset(source):  # its BPE tokenizer (chat template) comes from its corpus: chat only
        if style == "char":
            raise ValueError(
                f"{where}: preset {source} is a chat preset (a BPE tokenizer with a chat template), "
                "trained in the chat style: use style chat or auto, or a char preset for the char style"
            )
        return "chat"
    return resolve_style(style, load_tokenizer(source), where)


@dataclass(frozen=True)
class ChatFormat:
    """The chat switches: ``system`` (a system message before every user turn; None: the
    template's default) and ``enable_thinking`` (None: the template's default; True/False
    is passed to templates with a thinking mode, such as Qwen3's)."""

    system: str | None = None
    enable_thinking: bool | None = None

    def validate(self, where: str = "chat") -> "ChatFormat":
        if self.system is not None and (not isinstance(self.system, str) or not self.system.strip()):
            raise ValueError(f"{where}.system_prompt: must be a non-empty string or null, got {self.system!r}")
        if self.enable_thinking is not None and not isinstance(self.enable_thinking, bool):
            raise ValueError(f"{where}.enable_thinking: must be true, false or null, got {self.enable_thinking!r}")
        return self

    def messages(self, user_text: str) -> list[dict[str, str]]:
        """The conversation of one user turn (after the system message, if any)."""
        return self.apply([{"role": "user", "content": user_text}])

    def apply(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """``messages`` with the system message first (unless they start with their own)."""
        if not self.system or (messages and messages[0].get("role") == "system"):
            return list(messages)
        return [{"role": "system", "content": self.system}, *messages]

    def template_kwargs(self) -> dict[str, Any]:
        """Extra keywords for ``apply_chat_template``."""
        return {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}


def render_chat(tokenizer: Any, messages: list[dict[str, str]], fmt: ChatFormat, generation_prompt: bool) -> str:
    """The text of ``messages`` through the tokenizer's chat template (with ``fmt``'s
    keywords); ``generation_prompt`` opens the assistant turn."""
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt, **fmt.template_kwargs()
    )
