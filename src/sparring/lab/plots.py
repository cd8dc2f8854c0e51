"""The report's figures: training curves (loss and reward per step, mean over seeds, stage
boundaries marked) and the depth profile (one panel per arm: its key metrics as bars with
their 95% intervals), plus the self-training rounds when a study has them
(``rounds.plot_rounds``). Written with matplotlib's Agg backend into the report folder; returns
the file names."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from .store import Store


def plots(store: Store, spec: dict, table: dict, cols: list, out: Path, na: set | frozenset = frozenset()) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a["name"] for a in spec["arms"]]
    cmap = plt.get_cmap("tab20")  # one colour per arm, the same in every panel: 10 dark, then 10 light
    colour = {a: cmap((2 * i) % 20 + (2 * i) // 20 % 2) for i, a in enumerate(arms)}
    files = []
    curves, stage_starts = defaultdict(list), defaultdict(set)
    for arm, seed, step, key, value in store.curves():
        if key in ("loss", "reward", "train_reward"):
            curves[(arm, key)].append((step, value))  # several seeds: averaged per step below
        elif key == "stage_start" and seed == min(spec["seeds"]):
            stage_starts[arm].add(step)
    if curves:
        keys = sorted({k for _, k in curves})
        fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), 3.6), squeeze=False)
        for ax, key in zip(axes[0], keys):
            for arm in arms:
                by_step = defaultdict(list)
                for step, value in curves.get((arm, key), []):
                    by_step[step].append(value)
                if by_step:
                    xs = sorted(by_step)
                    ax.plot(xs, [float(np.mean(by_step[x])) for x in xs], label=arm, lw=1.4, color=colour[arm])
                    for x in sorted(stage_starts.get(arm, ())):  # a pipeline's next stage begins
                        ax.axvline(x, color=colour[arm], ls=":", lw=1)
            ax.set_title(f"training {key}" + (" (dotted: a pipeline's next stage)" if stage_starts else ""), fontsize=9)
            ax.set_xlabel("step" + (f" (mean of {len(spec['seeds'])} seeds)" if len(spec["seeds"]) > 1 else ""))
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "training_curves.png", dpi=110)
        plt.close(fig)
        files.append("training_curves.png")
    if cols:
        ncols = min(len(arms), 5)  # wrapped: a 13-arm study is 3 rows of 5, not one 4,000-pixel strip
        nrows = -(-len(arms) // ncols)
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(3.0 * ncols + 1.5, (0.32 * len(cols) + 1.2) * nrows + 0.4),
            sharey=True,
            squeeze=False,
        )
        for ax in axes.flat[len(arms) :]:
            ax.set_visible(False)
        # one 0..1 scale for every panel; a metric that can exceed 1 (information gain) is
        # drawn as a share of its largest arm value, with the raw number written beside it
        scale = []
        for c in cols:
            top = max((abs(v[0]) for a in arms if (v := table.get((a, c[0], c[1])))), default=0.0)
            scale.append(top if top > 1.0 else 1.0)
        labels = [
            c[2] + ("" if c[3] else " (lower=better)") + (" (/ max arm)" if k > 1.0 else "")
            for c, k in zip(cols, scale)
        ]
        for ax, arm in zip(axes.flat, arms):
            vals = [table.get((arm, c[0], c[1])) for c in cols]
            y = np.arange(len(cols))
            ax.barh(
                y,
                [v[0] / k if v else 0 for v, k in zip(vals, scale)],
                color=["#4c72b0" if c[3] else "#dd8452" for c in cols],
            )
            for i, (v, k) in enumerate(zip(vals, scale)):
                if v and v[1] is not None:
                    ax.plot([v[1] / k, v[2] / k], [i, i], color="black", lw=1)
                if v and k > 1.0:
                    ax.text(0.98, i, f"{v[0]:.2f}", va="center", ha="right", fontsize=6)
                if (arm, cols[i][0]) in na:
                    ax.text(0.02, i, "n/a", va="center", ha="left", fontsize=6, color="#656d76")
            ax.set_title(arm, fontsize=9)
            ax.set_xlim(0, 1.0)
            ax.set_yticks(y, labels, fontsize=7)
            ax.invert_yaxis()
        fig.suptitle("depth profile per arm (bars: mean; lines: 95% CI)", fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "depth_profile.png", dpi=110)
        plt.close(fig)
        files.append("depth_profile.png")
    from .rounds import plot_rounds  # self-training arms: the per-round data (finding 8)

    return files + plot_rounds(store, arms, out)
