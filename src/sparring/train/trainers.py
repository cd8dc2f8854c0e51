"""The TRL trainer subclasses sparring runs (imported only when training starts).

- :class:`SparringSFTTrainer`: ``trl.SFTTrainer`` with a budget-following schedule.
- :class:`SparringGRPOTrainer`: ``trl.GRPOTrainer`` that, after TRL has generated and
  scored a batch, lets a *selector* re-pick the rollouts (GRPO-RoC), may put an earlier
  success back into a group that all failed (``replay.py``), recomputes the
  advantages with a registered advantage function (``variants.py``) and may drop groups
  whose rewards all agree (DAPO dynamic sampling, which TRL 1.16 does not do: it only
  logs ``frac_reward_zero_std``). Generation, log-probs, clipping, KL and the loss
  aggregation (``loss_type``) stay TRL's. Data-parallel as TRL is (docs/distributed.md):
  each rank scores, selects and replays its own whole groups; success replay shares its
  store over the ranks; the loss normaliser counts every rank's tokens.

The per-function rewards come through TRL's public reward-function interface (each
function wrapped by :class:`RecordedReward`), not an override of TRL's private scoring.
Both trainers count the FLOPs of what they run into the budget (``flops.py``): SFT in
``compute_loss`` (each micro-batch's attention mask), GRPO the rollouts and TRL's
no-gradient log-prob passes from the scored batch, and each training pass in
``compute_loss``.
The private TRL methods still overridden or called, and why, are listed in docs/trl.md.
"""

from __future__ import annotations

import functools
import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from trl import GRPOTrainer, SFTTrainer
from trl.trainer.utils import RepeatSampler

from .callbacks import BudgetScheduleMixin
from .distributed import gather, rank_file, world_size
from .flops import TRAIN, mask_lengths
from .replay import pad_right
from .variants import get_advantage, group_std

# TRL 1.16 still calls the transformers-5 deprecated name on every step; the setting itself
# is right (activation checkpointing off on CPU, see sparring.models.trl_args_overrides).
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")

_ROW_KEYS = (
    "prompt_ids",
    "prompt_mask",
    "completion_ids",
    "completion_mask",
    "advantages",
    "old_per_token_logps",
    "ref_per_token_logps",
    "sampling_per_token_logps",
    "tool_mask",
)


class SparringSFTTrainer(BudgetScheduleMixin, SFTTrainer):
    """TRL's SFTTrainer with a budget-following schedule and length-bucketed batches."""

    bucket_by_length: bool = False

    def _get_train_sampler(self, train_dataset=None):
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if not self.bucket_by_length or "input_ids" not in getattr(ds, "column_names", []):
            return super()._get_train_sampler(train_dataset)
        from .data import BucketBatchSampler

        lengths = [len(x) for x in ds["input_ids"]]
        # one optimizer step's rows over every rank: accelerate deals its per-rank batches in turn
        step_rows = self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps * world_size()
        # split into passes in order; several ranks: whole steps only (see BucketBatchSampler)
        return BucketBatchSampler(lengths, step_rows, seed=self.args.seed, full_only=world_size() > 1)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training and torch.is_grad_enabled():  # a training pass over this micro-batch
            self.spend("train", model, _sft_lengths(inputs), TRAIN)
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


class SparringGRPOTrainer(BudgetScheduleMixin, GRPOTrainer):
    """GRPOTrainer with a rollout selector, success replay, registered advantages and
    zero-variance dropping."""

    def __init__(
        self,
        model,
        reward_funcs,
        *args,
        advantage: str = "group",
        drop_zero_variance: bool = False,
        min_group_std: float = 1e-6,
        selector: Any = None,
        success_replay: Any = None,
        skip_unscored: bool = False,
        **kwargs,
    ):
        self._recorded: dict[Any, Any] = {}  # what the wrapped reward functions saw and returned
        funcs = reward_funcs if isinstance(reward_funcs, list) else [reward_funcs]
        super().__init__(model, [RecordedReward(f, i, self._recorded) for i, f in enumerate(funcs)], *args, **kwargs)
        self.advantage_fn = get_advantage(advantage)
        self.drop_zero_variance = drop_zero_variance
        self.min_group_std = min_group_std
        self.selector = selector
        self.success_replay = success_replay
        # a row every reward function left None is unscorable: NaN reward, outside its group's
        # statistics, advantage 0 (RARO's truncated answers); else TRL's rule (None counts 0)
        self.skip_unscored = skip_unscored
        if success_replay is not None and self.beta != 0.0 and self.ref_model is None:
            raise ValueError("success replay with a KL term needs a separate reference model (not a PEFT adapter)")

    def _get_train_sampler(self, dataset=None):
        sampler = super()._get_train_sampler(dataset)
        if type(sampler) is RepeatSampler and sampler.seed is not None:
            sampler.__class__ = EpochRepeatSampler  # same sampler, plus set_epoch (a resume's epoch order)
        return sampler

    # ---- resumable state (resume.py): what TRL's checkpoint does not hold -----------------
    STATE_FILE = "sparring-trainer.json"

    def sparring_state(self) -> dict[str, Any]:
        """TRL's step counter (which batch is generated afresh), the success-replay store and
        the selector's random generator, as JSON."""
        state: dict[str, Any] = {"trl_step": int(self._step)}
        if self.success_replay is not None:
            state["success_replay"] = self.success_replay.state_dict()
        if self.selector is not None and hasattr(self.selector, "state_dict"):
            state["selector"] = self.selector.state_dict()
        return state

    def load_sparring_state_dict(self, state: dict[str, Any]) -> None:
        self._step = int(state["trl_step"])
        if self.success_replay is not None:
            self.success_replay.load_state_dict(state["success_replay"])
        if self.selector is not None and hasattr(self.selector, "load_state_dict"):
            self.selector.load_state_dict(state["selector"])

    def save_sparring_state(self, folder: Path) -> None:
        """Each rank writes its own file (its selector's generator, its rows' history)."""
        (Path(folder) / rank_file(self.STATE_FILE)).write_text(json.dumps(self.sparring_state()), encoding="utf-8")

    def load_sparring_state(self, folder: Path) -> None:
        path = Path(folder) / rank_file(self.STATE_FILE)
        self.load_sparring_state_dict(json.loads(path.read_text(encoding="utf-8")))

    @property
    def group_size(self) -> int:
        """Rollouts per prompt the advantages are computed over (a selector may keep fewer)."""
        return self.selector.keep if self.selector is not None else self.num_generations

    def _rewards_per_func(self) -> torch.Tensor:
        """This rank's rows' rewards as TRL's ``_calculate_rewards`` computes them before its
        gather (rows x reward functions, float32, None -> NaN). A rank holds whole groups
        (its batch is a multiple of the group), so advantages need no other rank's rows."""
        if any(i not in self._recorded for i in range(len(self.reward_funcs))):
            raise RuntimeError("sparring's GRPO trainer: a reward function was not called on the batch")
        cols = [
            torch.tensor([torch.nan if r is None else r for r in self._recorded[i]], dtype=torch.float32)
            for i in range(len(self.reward_funcs))
        ]
        return torch.stack(cols, dim=1).to(self.accelerator.device)

    def _fit_per_token(self, out: dict, replaced: list[int]) -> None:
        """After a replay changed some rows' completions: widen every per-token tensor to
        the completions' width and recompute the old/reference log-probs of those rows."""
        if not replaced:  # nothing changed, not even the width
            return
        width = out["completion_ids"].shape[1]
        for key in ("old_per_token_logps", "ref_per_token_logps", "sampling_per_token_logps", "tool_mask"):
            if isinstance(out.get(key), torch.Tensor):
                out[key] = pad_right(out[key], width, 1 if key == "tool_mask" else 0)
        models = {"old_per_token_logps": self.model, "ref_per_token_logps": self.ref_model}
        rows = torch.tensor(replaced, device=out["completion_ids"].device)
        ids = torch.cat([out["prompt_ids"][rows], out["completion_ids"][rows]], dim=1)
        mask = torch.cat([out["prompt_mask"][rows], out["completion_mask"][rows]], dim=1)
        for key, model in models.items():
            if isinstance(out.get(key), torch.Tensor):
                self.spend("logprobs", model, mask_lengths(mask))
                with torch.no_grad():
                    logps, _, _ = self._get_per_token_logps_and_entropies(
                        model, ids, mask, width, batch_size=len(replaced)
                    )
                out[key][rows] = logps.to(out[key].dtype)

    def _count_rollouts(self, out: dict) -> None:
        """FLOPs of TRL's part of the step (before any row is re-picked): the rollouts
        generated (prompt + every generated token), then the no-gradient passes TRL ran over
        the scored rows (old policy log-probs, reference log-probs) where it returned them."""
        prompts = mask_lengths(out["prompt_mask"])
        ids = self._recorded.get("completion_ids")
        generated = [len(x) for x in ids] if ids is not None else mask_lengths(out["completion_mask"])
        self.spend("rollouts", self.model, [p + c for p, c in zip(prompts, generated, strict=True)])
        attended = mask_lengths(out["prompt_mask"], out["completion_mask"])
        if out.get("old_per_token_logps") is not None:
            self.spend("logprobs", self.model, attended)
        if out.get("ref_per_token_logps") is not None:
            self.spend("logprobs", self.ref_model if self.ref_model is not None else self.model, attended)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training and torch.is_grad_enabled():  # one optimisation pass over the batch
            self.spend("train", model, mask_lengths(inputs["prompt_mask"], inputs["completion_mask"]), TRAIN)
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _generate_and_score_completions(self, inputs):
        self._recorded.clear()  # TRL also scores eval batches: never read an older batch's rewards
        out = super()._generate_and_score_completions(inputs)
        if not self.model.training:
            return out
        self._count_rollouts(out)
        rpf = self._rewards_per_func()
        rewards = (rpf * self.reward_weights.to(rpf.device).unsqueeze(0)).nansum(dim=1)
        if self.skip_unscored:
            rewards = torch.where(rpf.isnan().all(dim=1), torch.nan, rewards)
        rows = torch.arange(rewards.numel(), device=rewards.device)
        if self.selector is not None:  # only a selector re-picks rows (no copy of the batch otherwise)
            rows = self.selector(
                inputs, self._recorded["completions"], rewards, self.num_generations, self._metrics["train"]
            ).to(rewards.device)
            rewards, out = rewards[rows], _take(out, rows)
        if self.success_replay is not None:
            keys = [_prompt_key(inputs[i]) for i in rows.tolist()]
            rewards, out["completion_ids"], out["completion_mask"], replaced = self.success_replay(
                keys, rewards, out["completion_ids"], out["completion_mask"], self.group_size, self._metrics["train"]
            )
            self._fit_per_token(out, replaced)
        adv = self.advantage_fn(rewards, self.group_size)
        if self.drop_zero_variance:
            live = group_std(rewards, self.group_size) > self.min_group_std
            self._metrics["train"]["frac_groups_dropped"].append(1.0 - live.float().mean().item())
            if not live.any():  # nothing to learn from: keep the batch with zero advantages (no update)
                live, adv = torch.ones_like(live), torch.zeros_like(adv)
            keep, pad = even_rows(live.nonzero().flatten(), (~live).nonzero().flatten())
            adv, out = adv[keep], _take(out, keep)
            if pad:  # rows that only make this rank's batch as long as the others': no loss, no advantage
                out["completion_mask"][-pad:] = 0
                adv[-pad:] = 0.0
        out["advantages"] = adv.to(out["completion_ids"].device)
        mask = out["completion_mask"] if out.get("tool_mask") is None else out["completion_mask"] * out["tool_mask"]
        # over every rank, as TRL counts it (its DAPO normaliser divides by the number of processes)
        out["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
        return out


class EpochRepeatSampler(RepeatSampler):
    """TRL's RepeatSampler whose epoch order is a function of ``(seed, epoch)``: epoch 0 is
    TRL's order; the Trainer's ``set_epoch`` reseeds before each epoch, so a run resumed in
    epoch 2 draws epoch 2's order (TRL's sampler would draw epoch 0's again)."""

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + 7919 * int(epoch))


class RecordedReward:
    """A reward function as TRL sees it (same arguments, same ``__name__``, so the same
    ``rewards/<name>/*`` logs), that also keeps what it returned, in ``log[index]``, and the
    completions it scored, in ``log["completions"]`` (their token ids in
    ``log["completion_ids"]``)."""

    def __init__(self, fn, index: int, log: dict):
        inner = fn
        while isinstance(inner, functools.partial):
            inner = inner.func
        if (
            isinstance(fn, (str, torch.nn.Module))
            or inspect.iscoroutinefunction(inner)
            or inspect.iscoroutinefunction(getattr(inner, "__call__", None))
        ):
            raise ValueError(f"sparring's GRPO trainer takes synchronous reward functions, got {fn!r}")
        self.fn, self.index, self.log = fn, index, log
        self.__name__ = getattr(inner, "__name__", type(inner).__name__)  # TRL's name for fn
        self.__wrapped__ = fn

    def __call__(self, *args, **kwargs):
        rewards = list(self.fn(*args, **kwargs))
        self.log[self.index] = rewards
        self.log["completions"] = kwargs.get("completions")
        self.log["completion_ids"] = kwargs.get("completion_ids")  # the generated ids (the FLOP count's lengths)
        return rewards


def _sft_lengths(inputs: dict) -> list[int]:
    """The sequences of an SFT micro-batch: attention-mask rows, or (padding-free packing)
    the runs of ``position_ids`` that start at 0."""
    if inputs.get("attention_mask") is not None:
        return mask_lengths(inputs["attention_mask"])
    pos = inputs["position_ids"].flatten()
    starts = torch.nonzero(pos == 0).flatten().tolist() + [pos.numel()]
    return [b - a for a, b in zip(starts, starts[1:])]


def even_rows(keep: torch.Tensor, spare: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Several ranks: ``keep`` (row indices) lengthened to the most any rank keeps, with
    repeats of a ``spare`` row (the caller masks them out): TRL's loss gathers per-row
    statistics, which needs the same number of rows on every rank. One process: as is."""
    if world_size() <= 1:
        return keep, 0
    pad = max(gather(int(keep.numel()))) - int(keep.numel())
    if pad <= 0:
        return keep, 0
    source = spare[:1] if spare.numel() else keep[:1]
    return torch.cat([keep, source.repeat(pad)]), pad


def _take(out: dict, rows: torch.Tensor) -> dict:
    """The batch restricted to ``rows`` (indices or a boolean mask) in every per-row tensor."""
    return {k: (v[rows.to(v.device)] if k in _ROW_KEYS and isinstance(v, torch.Tensor) else v) for k, v in out.items()}


def _prompt_key(row: dict) -> str:
    prompt = row.get("prompt", "")
    return prompt if isinstance(prompt, str) else repr(prompt)
