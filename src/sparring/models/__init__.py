"""Models for sparring: a character tokenizer saved as a real Hugging Face tokenizer,
tiny Llama presets, loading/saving any local Hugging Face causal LM, and
device/precision defaults that are fast on CPU.

Public API::

    char_tokenizer(padding_side="right", model_max_length=1024) -> PreTrainedTokenizerFast
    make_model(preset, seed=0) -> (LlamaForCausalLM, tokenizer)
    load_model(preset_or_path, *, device=None, dtype=None) -> (model, tokenizer)
    save_model(model, tokenizer, out_dir, card=None) -> Path
    atomic_dir(out_dir)  # context manager yielding a temporary sibling directory
    device_defaults(device=None, *, n_params=None) -> DeviceDefaults
    configure_threads(dd=None) -> int | None
    trl_args_overrides(dd=None) -> dict
    list_zoo() -> list[str]
    PRESETS: dict[str, Preset]
"""

from .device import DeviceDefaults, configure_threads, device_defaults, trl_args_overrides
from .loading import atomic_dir, list_zoo, load_model, resolve_model_source, save_model
from .presets import PRESETS, Preset, count_parameters, make_model, preset_config
from .tokenizer import VOCAB, VOCAB_SIZE, char_tokenizer

__all__ = [
    "PRESETS",
    "VOCAB",
    "VOCAB_SIZE",
    "DeviceDefaults",
    "Preset",
    "atomic_dir",
    "char_tokenizer",
    "configure_threads",
    "count_parameters",
    "device_defaults",
    "list_zoo",
    "load_model",
    "make_model",
    "preset_config",
    "resolve_model_source",
    "save_model",
    "trl_args_overrides",
]
