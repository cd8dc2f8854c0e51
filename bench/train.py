"""Training-step throughput: sparring's SFT and GRPO against TRL with its default config,
side by side on the same model and the same batch, and SFT tokens/s as a fraction of the
fp32 matmul peak measured in the same run.

    PYTHONPATH=src python bench/train.py [--rounds 3] [--sft-steps 8] [--grpo-steps 3]

Method. Configurations run in alternating rounds (A, B, A, B, ...) and each figure is the
best round (the machine is shared; the best round is the least disturbed). A round times
optimizer steps after one untimed warm-up step, from a Trainer callback. "TRL default" is
``SFTConfig`` / ``GRPOConfig`` with only what must match set (output dir, batch size, steps,
generations, completion length, no saving/reporting, and ``use_cpu=True`` without a GPU,
which TRL requires to start): on a CPU that means bf16 autocast and gradient
checkpointing, TRL's defaults. "sparring" is the shipped defaults (on a CPU a step of
~3.3k tokens runs as two gradient-accumulation passes, ``micro_batch_tokens``, each step's
rows shortest first so each pass pads less); "sparring unsorted" is the same two passes
with the rows in random order (as before that sort); "sparring one-pass" is the same step
in one pass. Tokens/s counts non-padding tokens. Model FLOPs
per token = 6 N + 12 L d T (N parameters, L layers, width d, T mean length; PaLM's MFU
convention); peak = best of square fp32 matmuls (512..2048) with the same thread count.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from transformers import TrainerCallback

from sparring.models import configure_threads, count_parameters, device_defaults, load_model
from sparring.tasks import get_task
from sparring.train import Budget
from sparring.train.data import prompt_dataset, recipe_dataset, tokenize_sft


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []
        self.t = None

    def on_step_begin(self, args, state, control, **kw):
        self.t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self.t)


def _must_have() -> dict:
    """What TRL's default config needs to start at all here: without a GPU it refuses to
    run unless told ``use_cpu=True`` (its bf16 and gradient-checkpointing defaults stay)."""
    return {} if torch.cuda.is_available() else {"use_cpu": True}


def matmul_peak(seconds: float = 1.0) -> float:
    best = 0.0
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        for _ in range(3):
            k, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / 3:
                a @ b
                k += 1
            best = max(best, 2 * n**3 * k / (time.perf_counter() - t0))
    return best


class MatmulShapes(TrainerCallback):
    """Records the operand shapes of every matmul (``aten::mm``, ``addmm``, ``bmm``) in one
    training step (the third), with ``torch.profiler``."""

    def __init__(self, step: int = 2):
        self.step, self.prof, self.shapes = step, None, []

    def on_step_begin(self, args, state, control, **kw):
        if state.global_step == self.step:
            self.prof = torch.profiler.profile(record_shapes=True)
            self.prof.__enter__()

    def on_step_end(self, args, state, control, **kw):
        if self.prof is not None and not self.shapes:
            self.prof.__exit__(None, None, None)
            self.shapes = [
                (e.name, [tuple(x) for x in e.input_shapes[:3]])
                for e in self.prof.events()
                if e.name in ("aten::mm", "aten::addmm", "aten::bmm")
            ]


def matmul_time(shapes, rounds: int = 20) -> tuple[float, float]:
    """Best wall time of running the recorded matmuls alone, on random operands of the same
    shapes, and their FLOPs: what the step would take if nothing but its matmuls cost time
    (attention inside SDPA's fused kernel is not among them)."""
    calls, flops = [], 0.0
    for name, shp in shapes:
        if name == "aten::addmm":
            bias, a, b = (torch.randn(*x) for x in shp)
            calls.append(lambda bias=bias, a=a, b=b: torch.addmm(bias, a, b))
        else:
            a, b = torch.randn(*shp[0]), torch.randn(*shp[1])
            calls.append(lambda a=a, b=b, f=torch.bmm if name == "aten::bmm" else torch.mm: f(a, b))
        flops += 2 * a.numel() * b.shape[-1]  # [(batch x) M x K] @ [K x N]
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for c in calls:
            c()
        best = min(best, time.perf_counter() - t0)
    return best, flops


def sft_round(kind: str, base: str, ds_tok, ds_raw, batch: int, steps: int, callbacks=()) -> dict:
    from trl import SFTConfig, SFTTrainer

    from sparring.train.callbacks import attach_budget
    from sparring.train.sft import SFTOptions, sft_config
    from sparring.train.trainers import SparringSFTTrainer

    model, tok = load_model(base)
    model.train()
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as tmp:
        if kind.startswith("sparring"):
            cfg = SFTOptions(
                batch_size=batch,
                show_progress=False,
                logging_steps=1000,
                torch_compile=kind == "sparring+compile",
                micro_batch_tokens=0 if kind == "sparring one-pass" else -1,
            )
            budget = Budget(steps=steps + 1)
            mean = statistics.mean(len(x) for x in ds_tok["input_ids"])
            tr = SparringSFTTrainer(
                model=model,
                args=sft_config(cfg, budget, tmp, device_defaults(), mean),
                train_dataset=ds_tok,
                processing_class=tok,
            )
            tr.bucket_by_length = cfg.bucket_by_length and kind != "sparring unsorted"
            attach_budget(tr, budget, warmup_steps=1, min_lr_ratio=0.1, show_progress=False)
        else:
            args = SFTConfig(
                output_dir=tmp,
                per_device_train_batch_size=batch,
                max_steps=steps + 1,
                save_strategy="no",
                report_to="none",
                logging_steps=1000,
                disable_tqdm=True,
                **_must_have(),
            )
            tr = SFTTrainer(model=model, args=args, train_dataset=ds_raw, processing_class=tok)
        for cb in (timer, *callbacks):
            tr.add_callback(cb)
        tr.train()
    dt = statistics.median(timer.times[1:])
    tokens = tr.state.num_input_tokens_seen if kind.startswith("sparring") else None
    return {"step_s": dt, "tokens": tokens, "steps": len(timer.times), "passes": tr.args.gradient_accumulation_steps}


def grpo_round(kind: str, base: str, ds, prompts: int, gens: int, steps: int) -> dict:
    from trl import GRPOConfig, GRPOTrainer

    from sparring.rewards import correct_reward
    from sparring.train.callbacks import attach_budget
    from sparring.train.grpo import GRPOOptions, grpo_config
    from sparring.train.trainers import SparringGRPOTrainer

    model, tok = load_model(base)
    model.train()
    timer = StepTimer()
    cfg = GRPOOptions(prompts_per_step=prompts, num_generations=gens, show_progress=False, logging_steps=1000)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "sparring":
            budget = Budget(steps=steps + 1)
            tr = SparringGRPOTrainer(
                model=model,
                reward_funcs=[correct_reward],
                args=grpo_config(cfg, budget, tmp, device_defaults()),
                train_dataset=ds,
                processing_class=tok,
                advantage="group",
                drop_zero_variance=True,
            )
            attach_budget(tr, budget, warmup_steps=0, min_lr_ratio=1.0, show_progress=False)
        else:
            args = GRPOConfig(
                output_dir=tmp,
                per_device_train_batch_size=prompts * gens,
                num_generations=gens,
                max_completion_length=cfg.rollout_tokens(),
                max_steps=steps + 1,
                save_strategy="no",
                report_to="none",
                logging_steps=1000,
                disable_tqdm=True,
                **_must_have(),
            )
            tr = GRPOTrainer(
                model=model, reward_funcs=[correct_reward], args=args, train_dataset=ds, processing_class=tok
            )
        tr.add_callback(timer)
        tr.train()
    return {"step_s": statistics.median(timer.times[1:]), "steps": len(timer.times)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="zoo:countdown-base", help="model for both (falls back to tiny)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--sft-steps", type=int, default=8)
    ap.add_argument("--grpo-steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--gens", type=int, default=8)
    ap.add_argument("--skip-trl-default", action="store_true", help="only sparring (quick)")
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also SFT with torch_compile=True (its first step, the compile, is not timed)",
    )
    args = ap.parse_args()
    threads = configure_threads(device_defaults())
    base = args.base
    try:
        load_model(base)
    except ValueError:
        base = "tiny"
    task = get_task("countdown")
    model, tok = load_model(base)
    cfgm = model.config
    n_params = count_parameters(model)
    raw, _ = recipe_dataset("imitation", task, args.batch * (args.sft_steps + 2), 0)
    raw = raw.select_columns(["prompt", "completion"])
    ds_tok = tokenize_sft(raw, tok, 1024)
    lengths = [len(x) for x in ds_tok["input_ids"]]
    prompts, _ = prompt_dataset(task, args.prompts * (args.grpo_steps + 2), 0)
    kinds = ["sparring"] if args.skip_trl_default else ["sparring", "trl-default"]
    sft: dict[str, list] = {
        k: []
        for k in kinds + ["sparring unsorted", "sparring one-pass"] + (["sparring+compile"] if args.compile else [])
    }
    grpo: dict[str, list] = {k: [] for k in kinds}
    peaks = []
    for r in range(args.rounds):
        peaks.append(matmul_peak())
        for k in sft:
            sft[k].append(sft_round(k, base, ds_tok, raw, args.batch, args.sft_steps))
        for k in kinds:
            grpo[k].append(grpo_round(k, base, prompts, args.prompts, args.gens, args.grpo_steps))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    peak = max(peaks)
    best = {k: min(v, key=lambda x: x["step_s"]) for k, v in sft.items()}
    rows_per_step = args.batch
    mean_len = statistics.mean(lengths)
    tok_per_step = mean_len * rows_per_step
    flops_tok = 6 * n_params + 12 * cfgm.num_hidden_layers * cfgm.hidden_size * mean_len
    print(
        f"\nmodel {base}: {n_params:,} parameters, {threads} threads, batch {rows_per_step} rows "
        f"(mean {mean_len:.1f} tokens), fp32 matmul peak {peak / 1e9:.1f} GFLOP/s"
    )
    print(f"{'run':32} {'s/step':>8} {'vs TRL default':>15} {'tokens/s':>10} {'% of peak':>10}")
    ref = best.get("trl-default")
    for k, b in best.items():
        tps = tok_per_step / b["step_s"]
        ratio = f"{ref['step_s'] / b['step_s']:.2f}x faster" if ref and k != "trl-default" else ""
        name = f"SFT {k}" + (f" ({b['passes']} passes)" if b["passes"] > 1 else "")
        print(f"{name:32} {b['step_s']:8.3f} {ratio:>15} {tps:10.0f} {100 * tps * flops_tok / peak:9.1f}%")
    shapes = MatmulShapes()
    sft_round("sparring", base, ds_tok, raw, args.batch, 3, callbacks=(shapes,))
    mm_s, mm_flops = matmul_time(shapes.shapes)
    print(
        f"{'SFT sparring: its matmuls alone':32} {mm_s:8.3f} {'':>15} {tok_per_step / mm_s:10.0f} "
        f"{100 * flops_tok * tok_per_step / mm_s / peak:9.1f}%   ({len(shapes.shapes)} matmuls of one step "
        f"at {mm_flops / mm_s / 1e9:.0f} GFLOP/s: the ceiling if every other op were free)"
    )
    gbest = {k: min(v, key=lambda x: x["step_s"]) for k, v in grpo.items()}
    gref = gbest.get("trl-default")
    for k, b in gbest.items():
        ratio = f"{gref['step_s'] / b['step_s']:.2f}x faster" if gref and k != "trl-default" else ""
        print(f"{'GRPO ' + k + f' ({args.prompts}x{args.gens})':32} {b['step_s']:8.3f} {ratio:>15}")
    print(
        "all rounds (s/step): SFT "
        + ", ".join(f"{k}={[round(x['step_s'], 3) for x in v]}" for k, v in sft.items())
        + "; GRPO "
        + ", ".join(f"{k}={[round(x['step_s'], 3) for x in v]}" for k, v in grpo.items())
        + f"; peaks GFLOP/s={[round(p / 1e9, 1) for p in peaks]}"
    )


if __name__ == "__main__":
    main()
