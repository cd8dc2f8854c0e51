"""Fixtures shared by the test modules.

- ``one_thread``: torch (and sparring's training, via ``SPARRING_THREADS``) on one thread
  for a module; the 51k-parameter test preset runs ~10x cheaper on one thread than on two
  busy ones. Opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
- ``countdown``: the default task.
- ``tiny_model``: ``(model, tokenizer)`` of the ``test`` preset, initialisation seed 0.
- ``init_weights``: that model's initial state dict (to check that training changed it).
- ``planted``: self-train's actor with planted answers (the ``test`` preset never solves a
  Countdown problem): the real generator runs, its FLOPs counted, then its texts are
  replaced; every even problem of the pool (``PLANTED_N`` problems, seed 0) gets
  [gold, flaw], every odd one [flaw, flaw], a refine prompt the gold. Gives ``.problems``,
  ``.pool`` (their ids) and ``.prompts_seen`` (every prompt the actor was shown).

Nothing here downloads: the hubs are offline for every test.
"""

from __future__ import annotations

import json
import os

import pytest

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="module")
def one_thread():
    import torch

    old_env, old = os.environ.get("SPARRING_THREADS"), torch.get_num_threads()
    os.environ["SPARRING_THREADS"] = "1"
    torch.set_num_threads(1)
    yield
    if old_env is None:
        os.environ.pop("SPARRING_THREADS", None)
    else:
        os.environ["SPARRING_THREADS"] = old_env
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def countdown():
    from sparring.tasks import get_task

    return get_task("countdown")


@pytest.fixture(scope="module")
def tiny_model():
    import torch

    from sparring.models import make_model

    torch.manual_seed(0)
    return make_model("test", seed=0)


@pytest.fixture(scope="module")
def init_weights():
    from sparring.models import make_model

    model, _ = make_model("test", seed=0)
    return {k: v.clone() for k, v in model.state_dict().items()}


PLANTED_N = 6  # the training pool of the self-train tests (their config's ``n``, seed 0)


@pytest.fixture
def planted(monkeypatch):
    from types import SimpleNamespace

    from sparring.corpus.refine import REFINE_CUE
    from sparring.tasks import get_task, load_problem
    from sparring.train import counted
    from sparring.train.data import prompt_dataset

    task = get_task("countdown")
    ds, _ = prompt_dataset(task, PLANTED_N, 0)
    problems = [load_problem(json.loads(x)) for x in ds["problem"]]
    state = SimpleNamespace(problems=problems, pool=[p.id for p in problems], prompts_seen=[])

    def problem_of(prompt: str):
        """The pool problem a sampling prompt (char or chat) or a refine prompt shows."""
        for p in problems:
            asked = (task.prompt(p, 0).strip(), task.prompt(p, 0, "chat").strip())
            shown = (task.prompt(p, 0).strip(), task.question(p))
            if prompt.strip() in asked or any(f"Question:\n{q}\n\n" in prompt for q in shown):
                return p
        raise AssertionError(f"no planted problem in {prompt!r}")

    class Planted(counted.CountingResponder):
        def generate(self, prompts, *, n_samples=1, temperature=0.0, max_new_tokens=64, seed=0, stop=()):
            real = super().generate(
                prompts,
                n_samples=n_samples,
                temperature=temperature,
                max_new_tokens=max_new_tokens,
                seed=seed,
                stop=stop,
            )
            out = []
            for prompt, row in zip(prompts, real):
                chat = not isinstance(prompt, str)
                prompt = prompt[-1]["content"] if chat else prompt  # chat style: the user message
                state.prompts_seen.append(prompt)
                if "Please critique" in prompt and not prompt.endswith(REFINE_CUE):
                    out.append(row)  # a checkpoint critic: its own (random) text
                    continue
                p = problem_of(prompt)
                gold, flaw = task.gold_completion(p, "chat" if chat else "char"), task.flaw(p, seed=0).text
                if prompt.endswith(REFINE_CUE):
                    out.append([gold] * n_samples)
                else:
                    even = state.pool.index(p.id) % 2 == 0
                    out.append(([gold, flaw] if even else [flaw, flaw])[:n_samples])
            return out

    monkeypatch.setattr(counted, "CountingResponder", Planted)
    return state
