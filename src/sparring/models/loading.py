"""Loading and saving causal language models: presets, the bundled zoo, local dirs.

A checkpoint is an ordinary Hugging Face directory (``config.json``, safetensors
weights, tokenizer files) plus an optional ``run.json`` card, so it loads with plain
``AutoModelForCausalLM.from_pretrained(dir)``. Nothing here touches the network:
every ``from_pretrained`` call passes ``local_files_only=True``.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from sparring.atomic import atomic_dir
from sparring.runcard import RUN_CARD, RunCard

from .adapters import adapter_base, is_adapter_dir
from .device import device_defaults
from .presets import PRESETS, make_model

ZOO_PREFIX = "zoo:"


def _zoo_root() -> Path:
    """The ``sparring/zoo`` directory of the installed package (may not exist)."""
    try:
        root = resources.files("sparring").joinpath("zoo")
    except (ModuleNotFoundError, TypeError):
        return Path(__file__).resolve().parent.parent / "zoo"
    return Path(str(root))


def list_zoo() -> list[str]:
    """Names of the bundled checkpoints: subdirectories of ``sparring/zoo`` that hold a
    ``config.json``. Empty when no zoo is installed."""
    root = _zoo_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())


def _zoo_path(name: str) -> Path:
    available = list_zoo()
    if name not in available:
        listed = ", ".join(available) if available else "none are installed"
        raise ValueError(f"unknown zoo model {ZOO_PREFIX}{name!s}: available zoo models: {listed}")
    return _zoo_root() / name


def _model_dir(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"model path does not exist: {path}")
    if not (path.is_dir() and ((path / "config.json").is_file() or (path / "adapter_config.json").is_file())):
        raise ValueError(f"not a model directory: {path} (no config.json, nor adapter_config.json)")
    return path


def resolve_model_source(preset_or_path: str | os.PathLike) -> tuple[str, str | Path]:
    """Classify what :func:`load_model` was given: ``("preset", name)`` or
    ``("dir", path)``. Raises ``ValueError`` on anything unusable.

    A ``str`` equal to a preset name is that preset, even if a directory of that name
    exists in the working directory (write ``./tiny`` to mean the directory).
    """
    if isinstance(preset_or_path, str):
        if preset_or_path in PRESETS:
            return "preset", preset_or_path
        if preset_or_path.startswith(ZOO_PREFIX):
            return "dir", _zoo_path(preset_or_path[len(ZOO_PREFIX) :])
        looks_like_path = os.sep in preset_or_path or "/" in preset_or_path
        if not looks_like_path and not Path(preset_or_path).exists():
            raise ValueError(
                f"unknown model {preset_or_path!r}: not a preset (presets are "
                f"{', '.join(sorted(PRESETS))}), not {ZOO_PREFIX}NAME, and no such "
                f"path: {Path(preset_or_path)}"
            )
    elif not isinstance(preset_or_path, os.PathLike):
        raise ValueError(f"preset_or_path must be a str or path, got {type(preset_or_path).__name__}")
    return "dir", _model_dir(Path(preset_or_path).expanduser())


def load_model(
    preset_or_path: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    adapter: str = "merge",
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Return ``(model, tokenizer)`` in eval mode on ``device``.

    Args:
        preset_or_path: a preset name (``"test"``, ``"tiny"``, ``"small"``: fresh
            random weights, seed 0), ``"zoo:NAME"`` (a checkpoint shipped inside the
            package), or a local directory holding a causal LM and its tokenizer.
        device: ``None`` picks CUDA if available, else CPU.
        dtype: ``None`` keeps the checkpoint's stored dtype (float32 for sparring's own
            checkpoints, which is what training wants). Pass
            ``device_defaults(device).dtype`` for fast inference.

    If the tokenizer has no pad token (common for Llama-family checkpoints) its EOS
    token is used as pad, and the model's configs are updated to match.

    A LoRA adapter directory (``adapter_config.json``; ``adapters.py``) is loaded onto its
    base: merged into the weights (``adapter="merge"``), or as a peft model whose adapter
    trains further (``adapter="train"``).
    """
    dd = device_defaults(device)
    kind, source = resolve_model_source(preset_or_path)
    if kind == "dir" and is_adapter_dir(source):
        if adapter not in ("merge", "train"):
            raise ValueError(f"adapter: must be 'merge' or 'train', got {adapter!r}")
        return load_adapter(source, device=dd.device, dtype=dtype, trainable=adapter == "train")
    if kind == "preset":
        model, tokenizer = make_model(str(source))
        if dtype is not None:
            model = model.to(dtype=dtype)
    else:
        kwargs: dict[str, Any] = {"local_files_only": True}
        if dtype is not None:
            kwargs["dtype"] = dtype
        tokenizer = _dir_tokenizer(Path(source))  # before the weights: a missing tokenizer fails fast
        model = AutoModelForCausalLM.from_pretrained(str(source), **kwargs)
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
            model.config.pad_token_id = tokenizer.pad_token_id
            if model.generation_config is not None:
                model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.to(dd.device)
    model.eval()
    return model, tokenizer


def load_adapter(path: str | Path, *, device: Any, dtype: Any, trainable: bool = False):
    """``(model, tokenizer)``: the adapter on its base. ``trainable``: a peft model whose
    adapter trains further; else the adapter merged into the weights (a plain model, as
    fast as any at inference)."""
    from peft import PeftModel

    path = Path(path)
    base = adapter_base(path)
    try:
        model, _ = load_model(base, device=device, dtype=dtype)
    except ValueError as err:
        raise ValueError(f"adapter {path}: its base model {base!r} cannot be loaded: {err}") from None
    if (path / "generation_config.json").is_file():  # the adapter's own stop strings (self-eval's end of answer)
        from transformers import GenerationConfig

        stops = GenerationConfig.from_pretrained(str(path)).stop_strings
        if stops and model.generation_config is not None:
            model.generation_config.stop_strings = stops
    tokenizer = _dir_tokenizer(path)
    try:
        peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    except Exception as err:  # a broken or foreign adapter: one clear line
        raise ValueError(f"adapter {path}: cannot load it onto {base!r} ({type(err).__name__}: {err})") from None
    if trainable:
        return peft_model, tokenizer
    return peft_model.merge_and_unload(), tokenizer


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def _dir_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in a model directory; one clear error when there is none."""
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ValueError(
            f"model directory {path} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
            "save it beside the weights with tokenizer.save_pretrained(DIR)"
        )
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as err:  # transformers raises OSError/KeyError/... on broken files
        raise ValueError(f"model directory {path}: cannot load its tokenizer ({type(err).__name__}: {err})") from None


def load_tokenizer(preset_or_path: str | os.PathLike) -> PreTrainedTokenizerBase:
    """The tokenizer of a preset, ``zoo:NAME`` or model directory, without loading weights."""
    kind, source = resolve_model_source(preset_or_path)
    if kind == "preset":
        from .presets import is_chat_preset, preset_config
        from .tokenizer import char_tokenizer

        if is_chat_preset(source):
            preset_config(str(source))  # the one error: its tokenizer exists only once pretrained
        return char_tokenizer()
    return _dir_tokenizer(Path(source))


def save_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    out_dir: str | os.PathLike,
    card: RunCard | dict | None = None,
) -> Path:
    """Save ``model`` + ``tokenizer`` (safetensors) to ``out_dir`` atomically, with
    ``card`` (a :class:`RunCard`, or a plain dict) as ``run.json`` when given; replaces
    an existing ``out_dir``.

    The card must be JSON-serialisable (non-JSON values such as paths are written with
    ``str``). A LoRA adapter whose generation config holds stop strings (``self-eval``)
    gets that ``generation_config.json`` too, which :func:`load_adapter` applies. Returns
    the absolute path of ``out_dir``.
    """
    if card is not None and not isinstance(card, (dict, RunCard)):
        raise ValueError(f"card must be a RunCard, a dict or None, got {type(card).__name__}")
    out = Path(out_dir).expanduser().absolute()
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        gc = getattr(model, "generation_config", None)
        if getattr(gc, "stop_strings", None) and not (tmp / "generation_config.json").is_file():
            gc.save_pretrained(tmp)  # a LoRA adapter: its stop strings beside it (load_adapter reads them)
        if isinstance(card, RunCard):
            (tmp / RUN_CARD).write_text(card.to_json(), encoding="utf-8")
        elif card is not None:
            text = json.dumps(card, indent=2, sort_keys=True, default=str)
            (tmp / RUN_CARD).write_text(text + "\n", encoding="utf-8")
    return out
