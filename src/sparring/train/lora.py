"""LoRA through peft, for every method: the option ``lora`` (``--set lora.r=16``).

A method whose config sets ``lora`` (a mapping; empty means a full fine-tune) trains a
low-rank adapter instead of the weights: ``W x + (alpha / r) B A x`` on every targeted
linear layer, ``A`` (r x in) random, ``B`` (out x r) zero, so training starts from the
base model exactly. Only ``A`` and ``B`` get gradients and optimizer state. The checkpoint
is a peft adapter directory (``adapter_config.json`` + ``adapter_model.safetensors``) with
the tokenizer and run.json; ``sparring.models.load_model`` loads it on its base (recorded
in run.json as ``lora_base``), ``sparring merge`` writes the merged model.

Pipelines: a stage that starts from an adapter and sets ``lora`` continues training that
adapter (its base stays the original model); one without ``lora`` merges it and trains
the full weights. RARO's critic shares the policy's adapter (shared weights) or, with
``shared_critic: false``, gets an adapter of its own on a second copy of the base.

FLOPs (``flops.py``): a frozen weight needs no weight gradient, so a LoRA training pass
costs ``3 F(L) - 2 N_frozen L`` instead of ``3 F(L)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

LORA_KEYS = ("r", "alpha", "dropout", "target_modules")


@dataclass(frozen=True)
class LoraOptions:
    """``r`` rank; ``alpha`` scale numerator (None: 2 r); ``dropout`` on the adapter's input;
    ``target_modules``: "all-linear" (peft: every linear layer but the output head) or a
    list of module-name suffixes such as ``["q_proj", "v_proj"]``."""

    r: int = 16
    alpha: float | None = None
    dropout: float = 0.0
    target_modules: Any = field(default="all-linear")

    @classmethod
    def parse(cls, raw: Any, where: str) -> "LoraOptions | None":
        """None for an empty mapping (a full fine-tune); else the checked options."""
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: must be a mapping such as {{r: 16}} (empty: full fine-tune), got {raw!r}")
        if not raw:
            return None
        unknown = sorted(set(raw) - set(LORA_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {list(LORA_KEYS)}")
        o = cls(**raw)
        if not isinstance(o.r, int) or isinstance(o.r, bool) or o.r < 1:
            raise ValueError(f"{where}.r: must be a positive integer, got {o.r!r}")
        if o.alpha is not None and (not isinstance(o.alpha, (int, float)) or isinstance(o.alpha, bool) or o.alpha <= 0):
            raise ValueError(f"{where}.alpha: must be a positive number or null, got {o.alpha!r}")
        if not isinstance(o.dropout, (int, float)) or not 0.0 <= o.dropout < 1.0:
            raise ValueError(f"{where}.dropout: must be in [0, 1), got {o.dropout!r}")
        t = o.target_modules
        if t != "all-linear" and not (isinstance(t, list) and t and all(isinstance(x, str) and x for x in t)):
            raise ValueError(f"{where}.target_modules: must be 'all-linear' or a non-empty list of names, got {t!r}")
        return o

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def linear_names(model) -> list[str]:
    """The distinct last name parts of the model's linear layers (what targets can name)."""
    import torch

    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})


def add_adapter(model, opts: LoraOptions, where: str = "lora"):
    """``model`` wrapped by peft with a fresh, trainable LoRA adapter; targets that match no
    module are one ValueError naming the model's linear layers."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=opts.r,
        lora_alpha=opts.alpha if opts.alpha is not None else 2 * opts.r,
        lora_dropout=float(opts.dropout),
        target_modules=opts.target_modules,
        task_type="CAUSAL_LM",
        bias="none",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        raise ValueError(
            f"{where}.target_modules: {opts.target_modules!r} match no module of {type(model).__name__} "
            f"(its linear layers: {', '.join(linear_names(model))}) [{err}]"
        ) from None


def is_adapter(model) -> bool:
    """Whether ``model`` is a peft model (its checkpoint is an adapter)."""
    try:
        from peft import PeftModel
    except ImportError:  # peft is a dependency; kept for a broken environment's sake
        return False
    return isinstance(model, PeftModel)


def trainable_weights(model) -> tuple[int, int]:
    """(trainable, all) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def merge_adapter(adapter_dir, out_dir):
    """Write the adapter merged into its base as a plain ``save_pretrained`` checkpoint (its
    run.json the adapter's, with ``extra.merged_from``); returns the output path. Outputs
    match the adapter's (the same weights, summed)."""
    from pathlib import Path

    from sparring.models import RUN_CARD, RunCard, load_model, save_model
    from sparring.models.adapters import adapter_base, is_adapter_dir

    src = Path(adapter_dir).expanduser().absolute()
    if not is_adapter_dir(src):
        raise ValueError(f"adapter: {src} is not a LoRA adapter directory (no adapter_config.json)")
    model, tok = load_model(src)
    card = RunCard.read(src) if (src / RUN_CARD).is_file() else None
    if card is not None:
        card.extra = {k: v for k, v in card.extra.items() if k != "lora_base"}
        card.extra["merged_from"] = {"adapter": str(src), "base": adapter_base(src)}
    return save_model(model, tok, out_dir, card=card)
