"""Experiment specs: YAML -> a validated ``Spec``, every error naming its field.

    name: quick
    task: {name: countdown, config: {n_numbers: 3}}
    base: zoo:countdown-base
    budget: 300steps            # every arm gets exactly this (pipelines split it over stages)
    seeds: [0]
    arms:
      - {name: base, method: none}          # the untrained base, probed as is
      - {name: sft, method: sft, config: {recipe: imitation}}
      - {name: sft-grpo, method: pipeline, config: {preset: sft-grpo}}
    probes: {names: all, n: 200, config: {max_new_tokens: 64}}
    checkpoint_every: 50steps   # optional: resumable checkpoints for every resumable arm
    resources: {cpus: 1}        # optional: each unit's torch threads (and Ray CPUs, GPUs)

Equal budgets are the point of a study, so an arm cannot set its own budget. Everything
that can be checked before training is checked at load time: fields, task config, that the
base exists, each method and its options, the probe names and config.

Results are keyed by content, not by name (:meth:`Spec.unit_key`): before a study runs,
:func:`content_fingerprints` hashes the base model's weights, config and tokenizer (a
preset: its definition) and every local dataset directory an arm trains on (a ``recipe:``
that is a path), and the keys hash those fingerprints in place of the names. Options that
do not change what a run computes (``checkpoint_every``, ``show_progress``: ``NOT_KEYED``)
are left out of the keys, so changing them redoes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sparring.tasks import get_task

from .resources import Resources

NO_TRAINING = "none"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
TOP_FIELDS = (
    "name",
    "description",
    "task",
    "base",
    "budget",
    "seeds",
    "arms",
    "probes",
    "findings",
    "checkpoint_every",
    "processes",
    "tensorboard",
    "resources",
)
ARM_FIELDS = ("name", "method", "config", "role")
PROBE_FIELDS = ("names", "n", "config")
# method options that do not change what a run computes: not part of a unit's key
NOT_KEYED = ("checkpoint_every", "show_progress", "report_to", "log_dir")


@dataclass
class Arm:
    name: str
    method: str
    config: dict[str, Any] = field(default_factory=dict)
    role: str = ""  # what the findings rules call it; defaults to the name

    @property
    def trains(self) -> bool:
        return self.method != NO_TRAINING


@dataclass
class Spec:
    name: str
    task: str
    task_config: dict[str, Any]
    base: str
    budget: str
    seeds: list[int]
    arms: list[Arm]
    probes: list[str]
    probe_n: int
    probe_config: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    findings: bool = True
    # resumable checkpoints (e.g. "50steps", "5min") for every arm whose method is resumable
    # and whose config does not set its own (:meth:`arm_config`); None: off
    checkpoint_every: str | None = None
    # data-parallel ranks each arm trains with (docs/distributed.md); not keyed: the global
    # batch is the same, so the result is one process's up to float rounding
    processes: int = 1
    # TensorBoard logs per train unit (runs/NAME/tensorboard/ARM-sSEED/), linked from the report
    tensorboard: bool = False
    # what each unit runs with: torch threads (and Ray's CPUs), Ray's GPUs (lab/executors.py);
    # not keyed, as processes
    resources: Resources = field(default_factory=Resources)
    # content fingerprints (``content_fingerprints``): "base" -> the base model's, and
    # "dataset:REF" -> each local dataset directory's, REF as an arm's ``recipe`` names it
    fingerprints: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def unit_key(self, arm: Arm, seed: int, kind: str) -> str:
        """Hash of everything one unit's result depends on. A train unit: task, the base's
        content fingerprint, budget, the arm's method and config, the fingerprints of the
        local datasets that config trains on, the seed. A probe unit: its train unit's key
        and the probe settings. A resumed run keeps every finished unit whose key is
        unchanged, so editing one arm (or the probes) of a study redoes only what the edit
        touches, and new weights behind the same base name or path redo every unit.

        The one place keys are made. The fingerprints come from :func:`content_fingerprints`
        (the runner fills them in before any unit runs); a spec without them (one stored by
        sparring before content keys) makes keys that match no fingerprinted spec's.

        ``checkpoint_every`` (the spec's and any arm's or stage's) and ``show_progress`` are
        not hashed: they do not change a unit's result."""
        d: dict[str, Any] = {
            "task": self.task,
            "task_config": self.task_config,
            "base": self.fingerprints.get("base"),
            "seed": seed,
            "method": arm.method,
            "config": _keyed(arm.config),
        }
        data = {ref: self.fingerprints.get(f"dataset:{ref}") for ref in dataset_refs(arm.config)}
        if any(data.values()):
            d["datasets"] = {ref: fp for ref, fp in data.items() if fp}
        if arm.trains:
            d["budget"] = self.budget
        if kind == "probe":
            d = {
                "train": self.unit_key(arm, seed, "train"),
                "probes": self.probes,
                "n": self.probe_n,
                "config": self.probe_config,
            }
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def arm_config(self, arm: Arm) -> dict[str, Any]:
        """The method options ``arm`` trains with: its config, plus the spec's
        ``checkpoint_every`` when its method is resumable and the config sets none."""
        config = dict(arm.config)
        if self.checkpoint_every is not None and arm.trains and "checkpoint_every" not in config:
            from sparring.train import get_method

            if get_method(arm.method).resumable:
                config["checkpoint_every"] = self.checkpoint_every
        return config

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Spec":
        """The inverse of :meth:`to_dict` (a spec stored in a run's database; fields added
        since, such as ``checkpoint_every``, take their defaults)."""
        return cls(**{**d, "arms": [Arm(**a) for a in d["arms"]], "resources": Resources.from_any(d.get("resources"))})

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)


def _keyed(config: dict[str, Any]) -> dict[str, Any]:
    """An arm's config as its unit key hashes it: without the ``NOT_KEYED`` options (and a
    recipe's ``teacher_cache`` folder), at the top and in each pipeline stage's config (a
    config without them is returned as is)."""

    def strip(cfg: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in cfg.items() if k not in NOT_KEYED}
        ro = out.get("recipe_options")
        if isinstance(ro, dict) and "teacher_cache" in ro:  # where replies are cached, not what they are
            out["recipe_options"] = {k: v for k, v in ro.items() if k != "teacher_cache"}
        return out

    out = strip(config)
    stages = out.get("stages")
    if isinstance(stages, list):
        out["stages"] = [
            {**st, "config": strip(st["config"])} if isinstance(st, dict) and isinstance(st.get("config"), dict) else st
            for st in stages
        ]
    return out


def dataset_refs(config: Any) -> list[str]:
    """The ``recipe`` values anywhere in an arm's config (pipeline stages included) that name
    a dataset directory, in order of appearance, each once."""
    from sparring.corpus import is_dataset_path  # corpus loads datasets: only when asked

    out: list[str] = []
    if isinstance(config, dict):
        for k, v in config.items():
            if k == "recipe" and isinstance(v, str) and v and is_dataset_path(v):
                out.append(v)
            else:
                out += dataset_refs(v)
    elif isinstance(config, list):
        for v in config:
            out += dataset_refs(v)
    return list(dict.fromkeys(out))


# what a saved dataset's fingerprint leaves out: descriptions derived from the rows
# (card.json, sample.jsonl) and datasets' own state.json (its "_fingerprint" follows the
# transforms that made the dataset, not the rows); the Arrow files and schema stay
DATASET_SKIP = ("card.json", "sample.jsonl", "state.json")


def content_fingerprints(spec: Spec) -> dict[str, str]:
    """Fingerprints of what the spec's names stand for: the base model (weights, config,
    tokenizer; a preset: its definition) and each local dataset directory an arm's
    ``recipe`` names (its Arrow files and schema). Files are hashed whole, once per process
    (``sparring.models.fingerprint``). A relative dataset path is read from the working
    directory, as training reads it."""
    from sparring.models.fingerprint import dir_fingerprint, model_fingerprint

    try:
        out = {"base": model_fingerprint(spec.base)}
    except (ValueError, OSError) as err:
        raise ValueError(f"spec.base: {err}") from None
    for i, arm in enumerate(spec.arms):
        for ref in dataset_refs(arm.config):
            try:
                out[f"dataset:{ref}"] = dir_fingerprint(Path(ref).expanduser(), skip=DATASET_SKIP)
            except (ValueError, OSError) as err:
                raise ValueError(f"spec.arms[{i}] ({arm.name}).recipe: {err}") from None
    return out


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"spec.{where}: {msg}")


def _known(d: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ValueError(f"spec{'.' + where if where else ''}: unknown field(s) {unknown}; allowed: {list(allowed)}")


def parse_spec(raw: Any, source: str = "spec") -> Spec:
    """Validate a spec mapping (as loaded from YAML) without touching models or data."""
    _need(isinstance(raw, dict), "(top)", f"{source} must be a mapping of fields")
    _known(raw, TOP_FIELDS, "")
    for f in ("task", "base", "budget", "arms"):
        _need(f in raw, f, "is required")
    name = raw.get("name", Path(source).stem)
    _need(
        isinstance(name, str) and bool(_NAME_RE.match(name)),
        "name",
        f"must be letters, digits, '-', '_', '.' or '+' (got {name!r})",
    )

    task = raw["task"]
    if isinstance(task, str):
        task = {"name": task}
    _need(isinstance(task, dict), "task", "must be a task name or {name, config}")
    _known(task, ("name", "config"), "task")
    task_config = task.get("config") or {}
    _need(isinstance(task_config, dict), "task.config", "must be a mapping")

    base = raw["base"]
    _need(isinstance(base, str) and base.strip() != "", "base", "must be a preset, zoo:NAME or a path")

    budget = raw["budget"]
    _need(
        isinstance(budget, (str, int)) and not isinstance(budget, bool),
        "budget",
        "must be like '300steps', '2Mtokens' or '300s'",
    )

    seeds = raw.get("seeds", [0])
    _need(
        isinstance(seeds, list)
        and seeds != []
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds),
        "seeds",
        f"must be a non-empty list of integers >= 0 (got {seeds!r})",
    )
    _need(len(set(seeds)) == len(seeds), "seeds", "must not repeat")

    arms_raw = raw["arms"]
    _need(isinstance(arms_raw, list) and arms_raw, "arms", "must be a non-empty list")
    arms: list[Arm] = []
    for i, a in enumerate(arms_raw):
        where = f"arms[{i}]"
        _need(isinstance(a, dict), where, "must be a mapping with name and method")
        _known(a, ARM_FIELDS, where)
        _need("name" in a and "method" in a, where, "needs a name and a method")
        _need(
            isinstance(a["name"], str) and bool(_NAME_RE.match(a["name"])),
            f"{where}.name",
            f"must be letters, digits, '-', '_', '.' or '+' (got {a['name']!r})",
        )
        cfg = a.get("config") or {}
        _need(isinstance(cfg, dict), f"{where}.config", "must be a mapping of method options")
        _need("budget" not in cfg, f"{where}.config.budget", "arms share the spec's budget (equal budgets); remove it")
        arms.append(Arm(a["name"], str(a["method"]), cfg, str(a.get("role") or a["name"])))
    names = [a.name for a in arms]
    dup = sorted({n for n in names if names.count(n) > 1})
    _need(not dup, "arms", f"arm names must be unique (repeated: {dup})")

    probes = raw.get("probes") or {}
    _need(isinstance(probes, dict), "probes", "must be a mapping {names, n, config}")
    _known(probes, PROBE_FIELDS, "probes")
    pnames = probes.get("names", "all")
    if isinstance(pnames, str):
        pnames = [p.strip() for p in pnames.split(",") if p.strip()]
    _need(
        isinstance(pnames, list) and all(isinstance(p, str) for p in pnames),
        "probes.names",
        "must be 'all' or a list of probe names",
    )
    pn = probes.get("n", 200)
    _need(
        isinstance(pn, int) and not isinstance(pn, bool) and pn > 0,
        "probes.n",
        f"must be a positive integer (got {pn!r})",
    )
    pconf = probes.get("config") or {}
    _need(isinstance(pconf, dict), "probes.config", "must be a mapping")
    findings = raw.get("findings", True)
    _need(isinstance(findings, bool), "findings", "must be true or false")
    every = raw.get("checkpoint_every")
    _need(
        every is None or isinstance(every, str),
        "checkpoint_every",
        f"must be like '50steps' or '5min', or null (off) (got {every!r})",
    )
    processes = raw.get("processes", 1)
    _need(
        isinstance(processes, int) and not isinstance(processes, bool) and processes >= 1,
        "processes",
        f"must be a positive integer (got {processes!r})",
    )
    tensorboard = raw.get("tensorboard", False)
    _need(isinstance(tensorboard, bool), "tensorboard", f"must be true or false (got {tensorboard!r})")
    resources = Resources.from_any(raw.get("resources"), "spec.resources")
    return Spec(
        name,
        str(task.get("name")),
        task_config,
        base.strip(),
        str(budget),
        seeds,
        arms,
        pnames,
        pn,
        pconf,
        str(raw.get("description", "")),
        findings,
        every,
        processes,
        tensorboard,
        resources,
    )


def check_spec(spec: Spec, spec_dir: Path | None = None) -> Spec:
    """Everything that needs the library: task config, base, methods, options, probes."""
    from sparring.models.loading import resolve_model_source
    from sparring.probes import as_config, probe_names
    from sparring.train import Budget, get_method
    from sparring.train.budget import parse_every
    from sparring.train.distributed import split_over

    try:
        task = get_task(spec.task, **spec.task_config)
    except ValueError as err:
        raise ValueError(f"spec.task: {err}") from None
    base = spec.base
    if spec_dir is not None and not base.startswith("zoo:") and (spec_dir / base).exists():
        spec.base = base = str((spec_dir / base).resolve())
    try:
        resolve_model_source(base)
    except ValueError as err:
        raise ValueError(f"spec.base: {err}") from None
    try:
        Budget.parse(spec.budget)
    except ValueError as err:
        raise ValueError(f"spec.budget: {err}") from None
    try:
        parse_every(spec.checkpoint_every, "checkpoint_every")
    except ValueError as err:
        raise ValueError(f"spec.{err}") from None
    for i, arm in enumerate(spec.arms):
        if not arm.trains:
            _need(not arm.config, f"arms[{i}].config", "an arm with method 'none' takes no config")
            continue
        try:
            method = get_method(arm.method)
            cfg = method.config_cls.from_any(spec.arm_config(arm))
            cfg.check_task(task)
            split_over(cfg, spec.processes)
            if arm.config.get("checkpoint_every") is not None and not method.resumable:
                raise ValueError(f"checkpoint_every: {arm.method} does not write resumable checkpoints yet")
        except ValueError as err:
            raise ValueError(f"spec.arms[{i}] ({arm.name}): {err}") from None
    try:
        spec.probes = list(probe_names(spec.probes if spec.probes != ["all"] else "all", task))
        as_config(dict(spec.probe_config), n=spec.probe_n, seed=0)
    except ValueError as err:
        raise ValueError(f"spec.probes: {err}") from None
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read, parse and fully check a YAML spec file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"spec: no such file: {p}")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"spec: {p} is not valid YAML: {err}") from None
    return check_spec(parse_spec(raw, str(p)), p.parent)
