"""House prices: the k-fold MLP against a ridge regression and gradient-boosted trees, on the same folds.

Runs `compete fit` (or reads an existing run with --run), then fits ridge and scikit-learn's
HistGradientBoosting on each fold's preprocessed features (the same per-fold preprocessing as the
MLP), and prints the pooled out-of-fold RMSE of log price of each model and of their blend
(non-negative weights fitted on the pooled OOF log predictions).

    python benchmarks/house_prices.py house-prices-advanced-regression-techniques --data-dir data/house-prices-advanced-regression-techniques
    python benchmarks/house_prices.py california-house-prices --synthetic --workdir /tmp/bench   # no download needed
    python benchmarks/house_prices.py california-house-prices --synthetic --workdir /tmp/bench --experiment log --data.scaling=log
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import nnls
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from competitions.catalog import get_competition  # noqa: E402
from competitions.commands.cli import main as compete  # noqa: E402
from competitions.pipeline.factory import build_datamodule  # noqa: E402


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def baselines(spec, run: Path, data_dir: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """OOF log predictions of ridge and GBM on the run's folds and features, with their fit times."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    datamodule = build_datamodule(spec, data_dir, **(config.get("data") or {}))
    datamodule.check_layout()
    datamodule.ensure_folds(run / "folds.csv", int(config["n_folds"]), int(config["seed"]), write=False)
    y = datamodule.log_target()
    out = pd.DataFrame({"id": datamodule.train_table["id"], "y": y, "fold": -1, "ridge": np.nan, "gbm": np.nan})
    seconds = {"ridge": 0.0, "gbm": 0.0}
    for fold in range(int(config["n_folds"])):
        datamodule.set_fold(fold)
        features, _, _, _ = datamodule.fold_features()
        train, val = datamodule.train_indices(), datamodule.val_indices()
        out.loc[val, "fold"] = fold
        models = {
            "ridge": RidgeCV(alphas=np.logspace(-1, 3, 20)),
            "gbm": HistGradientBoostingRegressor(
                learning_rate=0.05, max_iter=2000, max_leaf_nodes=15, min_samples_leaf=10, l2_regularization=1.0,
                early_stopping=True, validation_fraction=0.1, n_iter_no_change=50, random_state=fold,
            ),
        }  # fmt: skip
        for name, model in models.items():
            started = time.time()
            model.fit(features[train], y[train])
            out.loc[val, name] = model.predict(features[val])
            seconds[name] += time.time() - started
    return out, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("slug", choices=["house-prices-advanced-regression-techniques", "california-house-prices"])
    parser.add_argument("--data-dir", help="the competition folder (default: WORKDIR/data/SLUG)")
    parser.add_argument("--synthetic", action="store_true", help="build the synthetic fixture at full size first")
    parser.add_argument("--workdir", default=".", help="where data/ and runs/ go")
    parser.add_argument("--run", help="an existing run directory (skips training)")
    parser.add_argument("--config", default="default", help="preset or YAML for the MLP")
    parser.add_argument("--experiment", default="bench-mlp")
    # Any other option goes to `compete fit`, e.g. --data.scaling=log --model.depth=3
    args, overrides = parser.parse_known_args(argv)
    spec = get_competition(args.slug)
    workdir = Path(args.workdir)
    data_dir = Path(args.data_dir) if args.data_dir else workdir / "data" / args.slug
    if args.synthetic and not data_dir.exists():
        from tests.fixtures_tabular import make_ames, make_california

        made = (make_ames if args.slug.startswith("house") else make_california)(data_dir.parent)
        print(f"synthetic data: {made}", file=sys.stderr)
    run = Path(args.run) if args.run else workdir / "runs" / args.slug / args.experiment
    mlp_seconds = float("nan")
    if not args.run:
        started = time.time()
        argv = ["fit", args.slug, "--config", args.config, "--data-dir", str(data_dir)]
        argv += ["--runs-dir", str(workdir / "runs"), "--experiment", args.experiment, *overrides]
        if compete(argv) != 0:
            return 1
        mlp_seconds = time.time() - started

    oof, seconds = baselines(spec, run, str(data_dir))
    folds = sorted(int(p.parent.name[4:]) for p in run.glob("fold*/oof.csv"))
    mlp = pd.concat([pd.read_csv(run / f"fold{k}" / "oof.csv", dtype={"id": str}) for k in folds])
    oof = oof.merge(mlp[["id", "prediction"]], on="id")
    oof["mlp"] = np.log(oof["prediction"])
    members = ["mlp", "ridge", "gbm"]
    weights, _ = nnls(oof[members].to_numpy(), oof["y"].to_numpy())
    weights = weights / weights.sum()
    oof["blend"] = oof[members].to_numpy() @ weights
    oof["equal blend"] = oof[members].mean(axis=1)

    print(f"\n{args.slug}: {len(oof)} rows, {len(folds)} folds, data {data_dir}")
    print(f"{'model':<14}{'OOF rmse_log':>13}{'fold mean ± std':>20}{'fit s':>8}")
    times = {"mlp": mlp_seconds, **seconds}
    for name in [*members, "equal blend", "blend"]:
        per_fold = [rmse(g[name], g["y"]) for _, g in oof.groupby("fold")]
        spent = times.get(name, float("nan"))
        print(
            f"{name:<14}{rmse(oof[name], oof['y']):>13.4f}"
            f"{np.mean(per_fold):>12.4f} ± {np.std(per_fold, ddof=1):.4f}{spent:>8.1f}"
        )
    print("blend weights (non-negative, fitted on the pooled OOF): " + ", ".join(
        f"{m} {w:.2f}" for m, w in zip(members, weights, strict=True)
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
