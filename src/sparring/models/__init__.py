"""Models for sparring: a character tokenizer saved as a real Hugging Face tokenizer,
tiny Llama presets, loading/saving any local Hugging Face causal LM, and
device/precision defaults that are fast on CPU.

Public API::

    char_tokenizer(padding_side="right", model_max_length=1024) -> PreTrainedTokenizerFast
    make_model(preset, seed=0) -> (LlamaForCausalLM, tokenizer)
    load_model(preset_or_path, *, device=None, dtype=None) -> (model, tokenizer)
    save_model(model, tokenizer, out_dir, card=None) -> Path
    RunCard.read(checkpoint_dir) / card.write(dir)  # run.json, schema sparring.run/2
    atomic_dir(out_dir)  # context manager yielding a temporary sibling directory
    device_defaults(device=None, *, n_params=None) -> DeviceDefaults
    configure_threads(dd=None) -> int | None
    trl_args_overrides(dd=None) -> dict
    list_zoo() -> list[str]
    HFResponder(model, tokenizer, ...)  # the one batched generator (Responder protocol)
    as_responder(model_or_source, tokenizer=None) -> Responder
    load_for_inference(source, device=None) -> (model, tokenizer)
    PRESETS: dict[str, Preset]
"""

from sparring.runcard import RUN_CARD, ZOO_CARD, RunCard

from .bpe import TINY_ARCHS
from .device import DeviceDefaults, configure_threads, device_defaults, trl_args_overrides
from .generation import HFResponder, as_responder, cut_at_stop, load_for_inference
from .loading import atomic_dir, list_zoo, load_model, resolve_model_source, save_model
from .presets import PRESETS, Preset, count_parameters, make_model, preset_config
from .responder import Message, Prompt, Responder, assistant, token_counter, user
from .tiny import make_tiny_real, tiny_real_tokenizer
from .tokenizer import VOCAB, VOCAB_SIZE, char_tokenizer

__all__ = [
    "PRESETS",
    "RUN_CARD",
    "ZOO_CARD",
    "RunCard",
    "TINY_ARCHS",
    "VOCAB",
    "VOCAB_SIZE",
    "DeviceDefaults",
    "HFResponder",
    "Message",
    "Preset",
    "Prompt",
    "Responder",
    "as_responder",
    "assistant",
    "atomic_dir",
    "char_tokenizer",
    "configure_threads",
    "count_parameters",
    "cut_at_stop",
    "device_defaults",
    "list_zoo",
    "load_for_inference",
    "load_model",
    "make_model",
    "make_tiny_real",
    "preset_config",
    "resolve_model_source",
    "save_model",
    "tiny_real_tokenizer",
    "token_counter",
    "trl_args_overrides",
    "user",
]
