"""GPU figures: SFT and GRPO step time, tokens/s and MFU for a ~100M-500M Llama model in bf16.

    python bench/gpu.py                       # on a GPU: sizes 150m and 350m, JSON to --json
    python bench/gpu.py --smoke               # anywhere (CPU): a tiny model, 2 steps each, fp32

Made to run on a GPU machine that has torch, transformers, accelerate and peft but not
TRL, datasets or vLLM, so it imports none of them, nor sparring's training code. What it
measures is therefore not sparring's trainers but the same work written out in plain torch:

- **SFT step**: one AdamW step of causal-LM loss on a ``batch x seq`` block of tokens
  (forward with labels, backward, step), the model's weights in bf16 as sparring loads them
  on a bf16 GPU (``models/device.py``).
- **GRPO step**: ``prompts x group`` rollouts sampled with ``model.generate`` (KV cache,
  temperature 1, exactly ``completion`` new tokens: no end-of-sequence stops them), a
  stand-in verifier reward per rollout (the share of even token ids: no task, but varied),
  group-normalised advantages, and one on-policy policy-gradient step (GRPO's clipped loss
  at ratio 1, ``num_iterations = 1``: ``-mean(A * log pi(token))`` over completion tokens).
- **DeepSpeed ZeRO-2 SFT step** on one GPU through accelerate, if ``deepspeed`` is
  installed (otherwise reported as skipped).

FLOPs follow sparring's one rule (``src/sparring/train/flops.py``, loaded from its file, not
through the package): a training pass over L tokens is 3 F(L), generation F(P + C). MFU is
those FLOPs per second over the GPU's dense bf16 peak (a table by device name, or
``--peak-tflops``). Each figure is the median of the timed steps after warm-up steps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
# name -> LlamaConfig fields (vocab 32000, tied embeddings off); parameters printed at run time
SIZES = {
    "smoke": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=256),
    "150m": dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12),
    "350m": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=24, num_attention_heads=16),
}
# dense bf16 peak FLOP/s by device name (no sparsity); the first match wins
PEAKS = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12), ("L40S", 362e12), ("L4", 121e12))


def _flops_module():
    """sparring's FLOP rule (train/flops.py), loaded from its file: importing the package
    would import TRL, which the GPU machine does not have."""
    spec = importlib.util.spec_from_file_location("sparring_flops", ROOT / "src" / "sparring" / "train" / "flops.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, warmup: int, steps: int, device: torch.device) -> tuple[float, list]:
    """Median seconds of ``steps`` calls after ``warmup`` calls; and each timed call's result."""
    for _ in range(warmup):
        fn()
    times, outs = [], []
    for _ in range(steps):
        _sync(device)
        t0 = time.perf_counter()
        outs.append(fn())
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), outs


def build(size: str, device: torch.device, dtype: torch.dtype, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    fields = {"vocab_size": 32000, "max_position_embeddings": 4096, "tie_word_embeddings": False, **SIZES[size]}
    config = LlamaConfig(**fields, attn_implementation="sdpa")
    model = LlamaForCausalLM(config).to(device=device, dtype=dtype)
    model.generation_config.pad_token_id = 0
    return model


def sft_step_fn(model, opt, batch: int, seq: int, device: torch.device):
    vocab = model.config.vocab_size

    def step():
        ids = torch.randint(1, vocab, (batch, seq), device=device)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def bench_sft(model, args, device, fm, peak) -> dict:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda")
    seconds, losses = _timed(sft_step_fn(model, opt, args.batch, args.seq, device), args.warmup, args.steps, device)
    tokens = args.batch * args.seq
    flops = fm.train([args.seq] * args.batch)
    return _figures("sft", seconds, tokens, flops, peak) | {"batch": args.batch, "seq": args.seq, "loss": losses[-1]}


def bench_grpo(model, args, device, fm, peak) -> dict:
    """Rollouts with HF generate, then one policy-gradient step on them; timed separately."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=device.type == "cuda")
    vocab, p, c, g = model.config.vocab_size, args.prompt_len, args.completion_len, args.group
    parts: dict[str, list[float]] = {"generate": [], "train": []}

    def step():
        prompts = torch.randint(1, vocab, (args.prompts, p), device=device).repeat_interleave(g, dim=0)
        _sync(device)
        t0 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            seqs = model.generate(
                prompts,
                attention_mask=torch.ones_like(prompts),
                do_sample=True,
                temperature=1.0,
                top_k=0,
                max_new_tokens=c,
                min_new_tokens=c,  # no end-of-sequence before c tokens: every rollout is c long
            )
        _sync(device)
        t1 = time.perf_counter()
        model.train()
        completion = seqs[:, p:]
        reward = (completion % 2 == 0).float().mean(dim=1).view(-1, g)  # stand-in verifier
        adv = ((reward - reward.mean(dim=1, keepdim=True)) / (reward.std(dim=1, keepdim=True) + 1e-4)).view(-1)
        logits = model(input_ids=seqs).logits[:, p - 1 : -1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, completion.unsqueeze(-1)).squeeze(-1)
        loss = -(adv.unsqueeze(1) * logp).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        parts["generate"].append(t1 - t0)
        parts["train"].append(time.perf_counter() - t1)
        return completion.shape[1]

    seconds, lengths = _timed(step, args.warmup, args.grpo_steps, device)
    rows = args.prompts * g
    assert all(n == c for n in lengths), "a rollout stopped early"
    gen_flops, train_flops = fm.generate([p] * rows, [c] * rows), fm.train([p + c] * rows)
    gen_s = statistics.median(parts["generate"][args.warmup :])
    train_s = statistics.median(parts["train"][args.warmup :])
    out = _figures("grpo", seconds, rows * (p + c), gen_flops + train_flops, peak)
    return out | {
        "rollouts": rows,
        "prompt_len": p,
        "completion_len": c,
        "generate_s": round(gen_s, 4),
        "generated_tokens_per_s": round(rows * c / gen_s, 1),
        "generate_mfu": _mfu(gen_flops, gen_s, peak),
        "train_s": round(train_s, 4),
        "train_mfu": _mfu(train_flops, train_s, peak),
    }


def bench_zero2(size: str, args, device, fm, peak) -> dict:
    """The SFT step under DeepSpeed ZeRO-2 on one GPU (accelerate's DeepSpeed plugin, bf16)."""
    if importlib.util.find_spec("deepspeed") is None:
        return {"what": "sft-zero2", "skipped": "deepspeed is not installed"}
    if device.type != "cuda":
        return {"what": "sft-zero2", "skipped": "needs a CUDA GPU"}
    from accelerate import Accelerator, DeepSpeedPlugin

    for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}.items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("MASTER_PORT", "29533")
    plugin = DeepSpeedPlugin(zero_stage=2, gradient_accumulation_steps=1)
    acc = Accelerator(mixed_precision="bf16", deepspeed_plugin=plugin)
    acc.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = args.batch
    model = build(size, device, torch.float32)  # fp32 master weights; DeepSpeed computes in bf16
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model, opt = acc.prepare(model, opt)
    vocab = SIZES[size].get("vocab_size", 32000)

    def step():
        ids = torch.randint(1, vocab, (args.batch, args.seq), device=device)
        loss = model(input_ids=ids, labels=ids).loss
        acc.backward(loss)
        opt.step()
        opt.zero_grad()
        return float(loss.detach())

    seconds, _ = _timed(step, args.warmup, args.steps, device)
    return _figures("sft-zero2", seconds, args.batch * args.seq, fm.train([args.seq] * args.batch), peak)


def _mfu(flops: int, seconds: float, peak: float | None) -> float | None:
    return round(flops / seconds / peak, 4) if peak else None


def _figures(what: str, seconds: float, tokens: int, flops: int, peak: float | None) -> dict:
    return {
        "what": what,
        "step_s": round(seconds, 4),
        "tokens_per_s": round(tokens / seconds, 1),
        "flops_per_step": flops,
        "tflops_per_s": round(flops / seconds / 1e12, 3),
        "mfu": _mfu(flops, seconds, peak),
    }


def _peak(device: torch.device, override: float | None) -> tuple[str, float | None]:
    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name(device)
    if override:
        return name, override * 1e12
    return name, next((v for k, v in PEAKS if k in name), None)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny model, 2 steps each, on whatever device (CPU here)")
    ap.add_argument("--sizes", default="150m,350m", help=f"comma-separated: {', '.join(SIZES)}")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=10, help="timed SFT steps (after --warmup)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8, help="rollouts per prompt (GRPO's G)")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--completion-len", type=int, default=256)
    ap.add_argument("--grpo-steps", type=int, default=3)
    ap.add_argument("--no-zero2", action="store_true", help="skip the DeepSpeed ZeRO-2 step")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak (default: by name)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes, args.batch, args.seq, args.steps, args.warmup = "smoke", 2, 32, 2, 1
        args.prompts, args.group, args.prompt_len, args.completion_len, args.grpo_steps = 2, 2, 8, 8, 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    name, peak = _peak(device, args.peak_tflops)
    import transformers

    fm_mod = _flops_module()
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": name,
        "dtype": str(dtype).replace("torch.", ""),
        "peak_tflops": peak / 1e12 if peak else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "results": [],
    }
    print(f"{name}, {report['dtype']}, torch {torch.__version__}, transformers {transformers.__version__}", flush=True)
    for size in args.sizes.split(","):
        model = build(size, device, dtype)
        fm = fm_mod.FlopModel.of(model)
        params = sum(p.numel() for p in model.parameters())
        rows = [bench_sft(model, args, device, fm, peak), bench_grpo(model, args, device, fm, peak)]
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if not args.no_zero2:
            try:
                rows.append(bench_zero2(size, args, device, fm, peak))
            except Exception as err:  # a figure that failed is reported, the others are kept
                rows.append({"what": "sft-zero2", "failed": f"{type(err).__name__}: {err}"[:300]})
        for r in rows:
            r.update(size=size, params=params, matmul_weights=fm.matmul_weights)
            if device.type == "cuda":
                r["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
            print(json.dumps(r), flush=True)
        report["results"] += rows
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
