"""``sparring train METHOD``, ``sparring pretrain`` and ``sparring rerank``.

Every input error (unknown method or option, bad value, missing base, bad budget) is one
line on stderr and exit code 2; nothing is written. Importing this module is light (no
torch): TRL is imported when training starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sparring.runcard import ZOO_CARD, RunCard
from sparring.tasks import get_task

from .common import STYLE_HELP, SYSTEM_PROMPT, TASK_SET, _fail, err_console, load_options, task_settings
from .teachers import TEACHER, TEACHER_MODEL, with_teachers

console = err_console  # training talks on stderr


def _fmt(v) -> str:
    return json.dumps(v, separators=(",", ":")) if not isinstance(v, str) else (v or '""')


def methods_help() -> str:
    """Every registered method with its options and defaults (the ``--help`` text)."""
    from sparring.train import METHODS, MethodConfig

    shared = {name for name, _, _ in MethodConfig.options()}
    paras = ["Options every method takes: " + ", ".join(f"{k}={_fmt(v)}" for k, v, _ in MethodConfig.options()) + "."]
    for name in sorted(METHODS):
        m = METHODS[name]
        own = [f"{k}={_fmt(v)}" for k, v, _ in m.config_cls.options() if k not in shared]
        paras.append(f"[bold]{name}[/bold]: {m.doc} Options: {', '.join(own)}.")
    paras.append("`sparring train METHOD --options` explains each option.")
    return "\n\n".join(paras)


def options_table(method: str) -> Table:
    from sparring.train import get_method

    m = get_method(method)
    table = Table(title=f"{method}: {m.doc}")
    for col in ("option", "default", "meaning"):
        table.add_column(col)
    for k, v, h in m.config_cls.options():
        table.add_row(k, escape(_fmt(v)), escape(h))  # texts may hold [brackets], not markup
    return table


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` came from the command line (not its default)."""
    return getattr(ctx.get_parameter_source(name), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")


RESUME_HELP = (
    "Continue from the last complete checkpoint this command wrote (in OUT.resume/, see "
    "--checkpoint-every; docs/resume.md)."
)
EVERY_HELP = (
    "Write a resumable checkpoint every N steps or minutes ('50steps', '5min'; 'auto', the "
    "default: every 10 minutes; 'off'); the option checkpoint_every."
)

PROCESSES_HELP = (
    "Train data-parallel over N processes (global batch unchanged; CPU: torchrun over gloo, "
    "GPUs: accelerate launch); `torchrun --nproc_per_node N -m sparring train ...` does the same "
    "(docs/distributed.md)."
)
ACCELERATE_HELP = (
    "Launch the ranks with `accelerate launch` and this config: ddp, fsdp2, deepspeed_zero2, "
    "deepspeed_zero3 (shipped, for CUDA GPUs; DeepSpeed needs `pip install deepspeed`) or a path "
    "(docs/scale.md)."
)
REPORT_HELP = (
    "Training logs: none, tensorboard (logs in OUT.tensorboard/, or --set log_dir=DIR), wandb or "
    "trackio (install them yourself); the option report_to."
)

NO_BASE = (
    "--base: pretraining always starts from a fresh preset, never from a base; "
    "choose it with --set preset=NAME (test, tiny, small; chat presets: chat-test, chat-small)"
)


def train_cmd(
    ctx: typer.Context,
    method: str = typer.Argument(..., help="Training method (listed below with its options)."),
    base: str = typer.Option(
        "zoo:countdown-base", "--base", help="Start from: a preset (tiny), zoo:NAME or a checkpoint directory."
    ),
    task: str = typer.Option("countdown", "--task", help="Task name (see `sparring tasks`)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Checkpoint directory (written aside, then renamed)."),
    budget: str = typer.Option(
        "300s",
        "--budget",
        help="Training budget: '300s', '5min', '200steps', '2Mtokens', '2e13flops' "
        "(several with commas: first reached stops).",
    ),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file of method options."),
    settings: Optional[list[str]] = typer.Option(
        None, "--set", "-s", help="Method option KEY=VALUE (repeatable; JSON values)."
    ),
    task_set: Optional[list[str]] = TASK_SET,
    show_options: bool = typer.Option(
        False, "--options", help="List METHOD's options, defaults and meaning; train nothing."
    ),
    resume: bool = typer.Option(False, "--resume", help=RESUME_HELP),
    checkpoint_every: Optional[str] = typer.Option(None, "--checkpoint-every", help=EVERY_HELP),
    processes: int = typer.Option(1, "--processes", help=PROCESSES_HELP),
    accelerate_config: Optional[str] = typer.Option(None, "--accelerate-config", help=ACCELERATE_HELP),
    report_to: Optional[str] = typer.Option(None, "--report-to", help=REPORT_HELP),
    style: Optional[str] = typer.Option(None, "--style", help=STYLE_HELP + " The option style (default auto)."),
    system_prompt: Optional[str] = SYSTEM_PROMPT,
    teacher: Optional[list[str]] = TEACHER,
    teacher_model: Optional[list[str]] = TEACHER_MODEL,
) -> None:
    """Train a model with METHOD and write a checkpoint (save_pretrained dir + run.json)."""
    from sparring.train import Budget, get_method, train
    from sparring.train.common import check_base, with_style
    from sparring.train.distributed import LaunchError, is_main

    if show_options:
        try:
            Console().print(options_table(method))
        except ValueError as err:
            _fail(err, console)
        return
    try:
        m = get_method(method)
        if method == "pretrain" and _given(ctx, "base"):
            raise ValueError(NO_BASE)
        if out is None:
            raise ValueError("--out: required (the checkpoint directory to write)")
        options = _with_flags(
            load_options(config, settings),
            checkpoint_every=checkpoint_every,
            style=style,
            system_prompt=system_prompt,
            report_to=report_to,
        )
        options = _with_teachers(m, options, teacher, teacher_model)
        cfg = m.config_cls.from_any(options)
        b = Budget.parse(budget)
        t = get_task(task, **task_settings(task_set))
        if method == "pretrain":
            base = cfg.preset  # pretraining starts from a fresh preset (train() checks it)
        else:
            check_base(base)
        cfg = with_style(cfg, base, t)  # auto decided now, so the line below can say it
    except ValueError as err:
        _fail(err, console)
    own = is_main() and processes == 1 and accelerate_config is None  # else the ranks' rank 0 talks
    if own:
        console.print(f"[bold]{method}[/] from {base} on {task} ({cfg.style} style), budget {b} -> {out}")
    try:
        # the public entry point, as from Python
        several = {"processes": processes} if processes != 1 else {}
        if accelerate_config is not None:
            several["accelerate_config"] = accelerate_config
        card = train(method, base, t, cfg, out, b, resume=resume, **several)
    except ValueError as err:
        _fail(err, console)
    except LaunchError as err:  # the ranks printed their errors; one line here, their exit code
        console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        raise typer.Exit(code=err.code)
    if own:
        _report(card)


train_cmd.__doc__ = (train_cmd.__doc__ or "") + "\n\nMethods and options (--set KEY=VALUE):\n\n" + methods_help()


def _with_flags(options: dict, **flags) -> dict:
    """The method options with the flags given (``--checkpoint-every``, ``--style``, ...),
    which win over --config and --set."""
    return {**options, **{k: v for k, v in flags.items() if v is not None}}


def _with_teachers(m, options: dict, urls, models) -> dict:
    """The method options with ``--teacher``/``--teacher-model`` as ``recipe_options.teachers``."""
    if not urls and not models:
        return options
    recipe = options.get("recipe", next((d for k, d, _ in m.config_cls.options() if k == "recipe"), None))
    recipe_options = with_teachers(recipe, dict(options.get("recipe_options") or {}), urls, models)
    return {**options, "recipe_options": recipe_options}


def _report(card) -> None:
    """Two lines from the run card ``train()`` returned: what training spent, and the checkpoint."""
    from sparring.train.budget import short_count

    before, after = card.metrics.get("before") or {}, card.metrics.get("after") or {}
    spent = card.metrics.get("train") or {}
    if "flops" in spent:
        console.print(
            f"trained {spent.get('steps', 0)} steps: {short_count(spent['flops'])} FLOPs, "
            f"{spent.get('tokens', 0):,} tokens, {spent.get('seconds', 0):g} s"
        )
    line = f"wrote {card.path}"
    if after:
        acc = f"{after.get('accuracy', 0):.1%}"
        if before:
            acc = f"{before.get('accuracy', 0):.1%} -> {acc}"
        line += f"; greedy accuracy on {after.get('n')} held-out problems: {acc}"
    console.print(line)


def pretrain_cmd(
    task: str = typer.Option("countdown", "--task", help="Task name (see `sparring tasks`)."),
    out: Path = typer.Option(
        ..., "--out", help="Where the base checkpoint goes, e.g. src/sparring/zoo/countdown-base."
    ),
    budget: str = typer.Option(
        "3000steps", "--budget", help="Training budget ('3000steps', '600s', '1e15flops', ...)."
    ),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file of pretrain options."),
    settings: Optional[list[str]] = typer.Option(
        None, "--set", "-s", help="Pretrain option KEY=VALUE (repeatable; JSON values)."
    ),
    task_set: Optional[list[str]] = TASK_SET,
    base: Optional[str] = typer.Option(None, "--base", hidden=True, help="Refused: " + NO_BASE),
    resume: bool = typer.Option(False, "--resume", help=RESUME_HELP),
    checkpoint_every: Optional[str] = typer.Option(None, "--checkpoint-every", help=EVERY_HELP),
    preset: Optional[str] = typer.Option(
        None, "--preset", help="The preset to train from scratch (the option preset; default tiny)."
    ),
    style: Optional[str] = typer.Option(
        None,
        "--style",
        help="char (char presets) or chat (chat presets: chat-small, chat-test; the recipe in the "
        "chat style, a BPE tokenizer trained on it); default auto: the preset's.",
    ),
) -> None:
    """Train a tiny model from scratch on the pretrain recipe (mixed-quality solutions +
    search traces, no critiques); writes weights, tokenizer, run.json and card.json (the
    exact command that rebuilds it, data hash, greedy accuracy and pass@k)."""
    from sparring.train import Budget, pretrain
    from sparring.train.pretrain import PretrainOptions

    try:
        if base is not None:
            raise ValueError(NO_BASE)
        flags = dict(checkpoint_every=checkpoint_every, preset=preset, style=style)
        cfg = PretrainOptions.from_any(_with_flags(load_options(config, settings), **flags))
        b = Budget.parse(budget)
        ts = task_settings(task_set)
        t = get_task(task, **ts)
    except ValueError as err:
        _fail(err, console)
    console.print(f"[bold]pretrain[/] {cfg.preset} from scratch on {task}, budget {b} -> {out}")
    try:
        run = pretrain(t, out, cfg, b, task_settings=ts, resume=resume)
    except ValueError as err:
        _fail(err, console)
    _report(run)
    card = RunCard.read(run.path / ZOO_CARD)  # the zoo card beside run.json: how to rebuild it
    for key, sampled in run.metrics.items():
        if key.startswith("sampled_t"):
            console.print(
                f"pass@{sampled['k']} (T={sampled['temperature']:g}, {sampled['n']} problems): "
                f"{sampled['pass_at_k']:.1%}"
            )
    console.print(f"rebuild with: {card.get('command')}")


def rerank_cmd(
    checkpoint: Path = typer.Argument(..., help="A RARO checkpoint (its critic judges)."),
    task: str = typer.Option("countdown", "--task", help="Task name."),
    k: int = typer.Option(8, "--k", help="Sampled answers per problem."),
    n: int = typer.Option(200, "--n", help="Problems."),
    split: str = typer.Option("test", help="test (held out) or an OOD level."),
    seed: int = typer.Option(0, help="Problem draw, sampling and tournament seeding."),
    temperature: float = typer.Option(0.5, help="Sampling temperature of the k answers (raro trains at 0.5)."),
    max_new_tokens: int = typer.Option(96, help="Generation limit per answer."),
    both_orders: bool = typer.Option(True, help="Play every match in both orders (cancels position bias)."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, ...; default: CUDA if available."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    task_set: Optional[list[str]] = TASK_SET,
    style: Optional[str] = typer.Option(
        None, "--style", help="Prompt format (char, chat); default: the one the checkpoint was trained in."
    ),
) -> None:
    """Rerank k sampled answers with a RARO checkpoint's critic (single-elimination tournament);
    print reranked vs greedy vs one sample vs majority vote accuracy on held-out problems."""
    from sparring.train.raro.rerank import rerank

    try:
        t = get_task(task, **task_settings(task_set))
        res = rerank(
            checkpoint,
            t,
            k=k,
            n=n,
            split=split,
            seed=seed,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            both_orders=both_orders,
            device=device,
            style=style,
        )
    except ValueError as err:
        _fail(err, err_console)
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    typer.echo(f"{res['task']} {res['split']}: {res['n']} problems, k={res['k']}, T={res['temperature']}")
    for key in ("greedy_accuracy", "sample_accuracy", "majority_accuracy", "reranked_accuracy", "pass_at_k"):
        lo, hi = res[f"{key}_ci"]
        typer.echo(f"  {key:18} {res[key]:.3f}  [{lo:.3f}, {hi:.3f}]")
    lo, hi = res["reranked_minus_sample_ci"]
    typer.echo(f"  reranked - sample  {res['reranked_minus_sample']:+.3f}  [{lo:+.3f}, {hi:+.3f}]")


def self_eval_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint trained with self-eval (any causal LM is read)."),
    task: str = typer.Option("countdown", "--task", help="Task name."),
    n: int = typer.Option(200, "--n", help="Held-out test problems."),
    seed: int = typer.Option(0, help="Problem draw and bootstrap seed."),
    style: Optional[str] = typer.Option(
        None, "--style", help="Prompt format (char, chat); default: the one the checkpoint was trained in."
    ),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, ...; default: CUDA if available."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the metrics and per-problem records as JSON."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    task_set: Optional[list[str]] = TASK_SET,
) -> None:
    """Self-predicted vs true accuracy of a self-eval checkpoint on held-out problems (the
    evaluation block read past the saved stop): correlation with its bootstrap 95% CI."""
    from sparring.train.self_eval_reading import self_eval_checkpoint

    try:
        res = self_eval_checkpoint(
            checkpoint, get_task(task, **task_settings(task_set)), n, seed=seed, style=style, device=device
        )
    except ValueError as err:
        _fail(err, err_console)
    if out is not None:
        from sparring.atomic import write_text_atomic

        write_text_atomic(out, json.dumps(res, indent=1))
    metrics = {k: v for k, v in res.items() if k != "records"}
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    typer.echo(f"{res['task']} test: {res['n']} problems ({res['style']} style)")
    for key in ("parsed", "pred_acc", "true_acc", "brier", "self_reward"):
        value = res[key]
        typer.echo(f"  {key:12} {'-' if value is None else f'{value:.3f}'}")
    ci = res["correlation_ci"]
    corr = "-" if res["correlation"] is None else f"{res['correlation']:+.3f}"
    typer.echo(f"  {'correlation':12} {corr}" + (f"  [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""))


def merge_cmd(
    adapter: Path = typer.Argument(..., help="A LoRA adapter checkpoint (trained with --set lora.r=N)."),
    out: Path = typer.Option(..., "--out", help="Where the merged model goes (written aside, then renamed)."),
) -> None:
    """Merge a LoRA adapter into its base and write a plain save_pretrained checkpoint."""
    from sparring.train.lora import merge_adapter

    try:
        path = merge_adapter(adapter, out)
    except ValueError as err:
        _fail(err, console)
    console.print(f"wrote {path} (the adapter merged into its base)")
