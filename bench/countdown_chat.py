"""Build ``zoo:countdown-chat`` end to end: the chat preset ``chat-small`` (a ~4.4M-parameter
Llama, byte-level BPE tokenizer with Llama 3's chat template) pretrained from scratch on the
v1 pretraining mix in the chat style, at about v1's compute (``zoo:countdown-base``: 3e13
FLOPs), then a summary (steps, seconds, FLOP/s) and greedy samples on held-out problems.

    nice -n 15 .venv/bin/python bench/countdown_chat.py                    # the zoo model (~35-45 min on 2 cores)
    nice -n 15 .venv/bin/python bench/countdown_chat.py --budget 3e11flops --out /tmp/cc   # a short check

It is ``sparring pretrain`` with these options (the card's ``command`` is that line), so
``sparring pretrain --task countdown --style chat --preset chat-small ...`` rebuilds it too.
The default task config keeps its validation and test problems out of the corpus (v1's
``countdown-base`` was built with ``validation_permille=0``; this one is not).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# v1's mix (docs/base-v2.md: v2 was not shipped), written in the chat style
OPTIONS = {
    "preset": "chat-small",
    "style": "chat",
    "recipe_options": {"mix": "v1", "error_rate": 0.4, "search_fraction": 0.1},
    # ~1.1M tokens (~7,000 documents of ~150 tokens) fit 3e13 FLOPs at 27M FLOPs a token:
    # 20,480 rows cover the ~13,000 train problems; batches of 32 give ~220 steps
    "n": 20480,
    "batch_size": 32,
    "warmup_steps": 20,
}
BUDGET = "3e13flops"
OUT = Path(__file__).resolve().parent.parent / "src/sparring/zoo/countdown-chat"


def samples(path: Path, k: int = 3) -> list[dict]:
    """Greedy completions of the checkpoint on ``k`` held-out problems (chat template 0)."""
    from sparring.models.generation import as_responder
    from sparring.models.responder import user
    from sparring.tasks import get_task

    task = get_task("countdown")
    problems = task.problems("test", n=k, seed=0)
    outs = as_responder(str(path)).generate([[user(task.prompt(p, 0, "chat"))] for p in problems], max_new_tokens=96)
    return [
        {"problem": p.data, "completion": o[0], "correct": task.verify(p, o[0]).correct} for p, o in zip(problems, outs)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", default=BUDGET, help=f"training budget (default {BUDGET}, v1's compute)")
    ap.add_argument("--out", type=Path, default=OUT, help="checkpoint directory (default: the zoo folder)")
    ap.add_argument("--set", action="append", default=[], help="extra pretrain option KEY=JSON (repeatable)")
    args = ap.parse_args()
    from sparring.train import pretrain

    options = {**OPTIONS, **{k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}}
    run = pretrain("countdown", args.out, options, args.budget)
    t = run.metrics["train"]
    card = json.loads((run.path / "card.json").read_text())
    print(f"command: {card['command']}")
    print(
        f"steps {t['steps']}, tokens {t['tokens']:,}, {t['seconds']:.1f} s, {t['flops']:.3g} FLOPs, "
        f"{t['flops'] / max(t['seconds'], 1e-9):.3g} FLOP/s, loss {t.get('first_loss')} -> {t.get('last_loss')}"
    )
    after = run.metrics.get("after") or {}
    print(f"greedy accuracy on {after.get('n')} test problems: {after.get('accuracy')}")
    for s in samples(run.path):
        print(json.dumps(s))


if __name__ == "__main__":
    main()
