"""Fixtures shared by the test modules.

- ``one_thread``: torch (and sparring's training, via ``SPARRING_THREADS``) on one thread
  for a module; the 51k-parameter test preset runs ~10x cheaper on one thread than on two
  busy ones. Opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
- ``countdown``: the default task.
- ``tiny_model``: ``(model, tokenizer)`` of the ``test`` preset, initialisation seed 0.
- ``init_weights``: that model's initial state dict (to check that training changed it).

Nothing here downloads: the hubs are offline for every test.
"""

from __future__ import annotations

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
