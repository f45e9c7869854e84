"""Is "one hold-out fold plus a refit on all rows" worth its time? The same wall time B spent two ways.

    python benchmarks/refit.py --workdir /tmp/refit --budgets 20,45,90              # cifar-10-shaped, 6,000 + 2,000
    python benchmarks/refit.py --workdir /tmp/refit --slug classify-leaves --budgets 60,120,240

The budget ladder's last fold rung trains a single hold-out fold (80% of the rows; the other 20% give the
run its score) with the whole budget. The alternative: the hold-out fold in half the budget (the score),
then a refit on every row in the other half, which predicts the test set. Both sides are the plain loop of
benchmarks/speed.py (the 3-block CNN, AdamW, one-cycle over the wall clock, flip augmentation and TTA) on a
learnable set at a real size (benchmarks/synthetic_images.py), the same 80% split, scored on the held-out
test labels. The rung pays only if the refit's 25% more rows beat the hold-out fold's twice as many epochs.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.speed import plain_loop  # noqa: E402
from benchmarks.synthetic_images import ensure  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="refit-bench")
    parser.add_argument("--slug", choices=["cifar-10", "classify-leaves"], default="cifar-10")
    parser.add_argument("--train", type=int, default=6000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--budgets", default="20,45,90", help="seconds, comma-separated")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    size = 32 if args.slug == "cifar-10" else 64
    data, heldout = ensure(args.slug, Path(args.workdir) / "data", args.train, args.test)
    truth = heldout["label"].to_numpy()
    fold = np.random.default_rng(0).permutation(args.train)[: args.train * 4 // 5]  # one fold of five: 80% trains

    def score(budget: float, rows: np.ndarray | None) -> tuple[float, int]:
        predicted, _, epochs = plain_loop(data, budget, True, args.device, args.slug, size, rows=rows)
        return float((predicted == truth).mean()), epochs

    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads; {args.slug}-shaped, {args.train} + "
          f"{args.test} images")  # fmt: skip
    print(f"{'budget B':>9}  {'hold-out fold, B':>22}  {'hold-out fold, B/2':>22}  {'refit on all rows, B/2':>24}")
    for budget in (float(b) for b in args.budgets.split(",")):
        whole, half, refit = score(budget, fold), score(budget / 2, fold), score(budget / 2, None)
        cells = [f"{acc:.4f} ({epochs} epochs)" for acc, epochs in (whole, half, refit)]
        print(f"{budget:>8.0f}s  {cells[0]:>22}  {cells[1]:>22}  {cells[2]:>24}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
