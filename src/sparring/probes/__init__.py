"""Probes: measure whether a model learned to reason or only the surface of reasoning.

Each probe is ``run(model, tokenizer, task, config) -> ProbeResult``: ``model`` is a
Hugging Face causal LM (with its tokenizer), a checkpoint source, or any
:class:`Responder` (e.g. the scripted oracles that validate the probes). Every metric
comes with a seeded bootstrap 95% interval over problems, and every problem with a record.

    from sparring.models import load_model
    from sparring.probes import run_probes
    from sparring.tasks import get_task

    model, tok = load_model("zoo:countdown-sft")
    results = run_probes(model, tok, get_task("countdown"), "accuracy,gaslight", n=500, seed=0)
    results["gaslight"].metrics["flip_rate"], results["gaslight"].ci["flip_rate"]

Probes (registry :data:`PROBES`): accuracy (ID + OOD levels), validity, sensitivity
(ProSA PSS), gaslight (flip rate + control), confidence (premature confidence), abstain
(recall / false abstention / F1), infogain, critique (CFT format), passk (pass@k,
diversity, per-difficulty success share). See each module's docstring for what it
really measures.
"""

from sparring.models import HFResponder, as_responder
from sparring.models import load_for_inference as load_for_probes

from .config import ProbeConfig, as_config, battery_problems
from .oracles import ScriptedResponder, gold_responder
from .passk import pass_at_k
from .registry import PROBES, probe_names, run_probes
from .responder import Prompt, Responder
from .result import ProbeResult, bootstrap_ci
from .sensitivity import prosa_s

__all__ = [
    "HFResponder",
    "PROBES",
    "ProbeConfig",
    "ProbeResult",
    "Prompt",
    "Responder",
    "ScriptedResponder",
    "as_config",
    "as_responder",
    "battery_problems",
    "bootstrap_ci",
    "gold_responder",
    "load_for_probes",
    "pass_at_k",
    "probe_names",
    "prosa_s",
    "run_probes",
]
