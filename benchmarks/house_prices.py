"""House prices: every `compete` model family and the stack, next to a plain LightGBM and RidgeCV, same folds.

Runs `compete fit SLUG --config stack` (LightGBM, ridge and the MLP from their presets, on the
competition's shared folds, then the blend), and fits the peers a competent user would write by hand
on the same folds.csv: LightGBM with default parameters (object columns as pandas categories, log
target) and `RidgeCV` on one-hot columns (median-imputed, standardised, log target). Prints the pooled
out-of-fold RMSE of log price of each, with the seconds each took.

    python benchmarks/house_prices.py house-prices-advanced-regression-techniques --synthetic --workdir /tmp/bench
    python benchmarks/house_prices.py california-house-prices --synthetic --workdir /tmp/bench
    python benchmarks/house_prices.py house-prices-advanced-regression-techniques --data-dir data/house-prices-advanced-regression-techniques
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reruns import summarise  # noqa: E402
from competitions.commands.cli import main as compete  # noqa: E402

TARGETS = {"house-prices-advanced-regression-techniques": "SalePrice", "california-house-prices": "Sold Price"}


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def peers(data_dir: Path, folds_csv: Path, target: str) -> tuple[dict[str, np.ndarray], dict[str, float], np.ndarray, np.ndarray]:
    """OOF log predictions of the plain peers on the given folds, their seconds, the log target and folds."""
    import lightgbm as lgb
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = pd.read_csv(data_dir / "train.csv")
    ids = train.iloc[:, 0].astype(str)
    fold_of = pd.read_csv(folds_csv, dtype={"id": str}).set_index("id")["fold"]
    folds = ids.map(fold_of).to_numpy()
    y = np.log(train[target].to_numpy(dtype=float))
    x = train.drop(columns=[train.columns[0], target])
    # The usual first notebook: text columns as categories for LightGBM, one-hot for the linear model.
    as_category = x.copy()
    for column in as_category.columns:
        if not pd.api.types.is_numeric_dtype(as_category[column]):
            as_category[column] = as_category[column].astype("category")
    numeric = x.select_dtypes("number").columns
    # One-hot of the text columns with at most 100 values (addresses and descriptions dropped, as anyone would).
    few = [c for c in x.columns if c not in numeric and x[c].nunique() <= 100]
    onehot = pd.get_dummies(x[[*numeric, *few]], dummy_na=True).astype(float)
    onehot[numeric] = np.log1p(onehot[numeric].clip(lower=0))  # the log of skewed amounts, as every kernel does
    import catboost

    text = [c for c in x.columns if c not in numeric]
    as_text = x.copy()
    as_text[text] = as_text[text].astype(object).where(as_text[text].notna(), "missing").astype(str)  # CatBoost: strings
    out = {"plain LightGBM": np.empty(len(y)), "plain CatBoost": np.empty(len(y)), "RidgeCV": np.empty(len(y))}
    seconds = dict.fromkeys(out, 0.0)
    for fold in np.unique(folds):
        train_rows, val_rows = folds != fold, folds == fold
        started = time.time()
        booster = lgb.LGBMRegressor(verbose=-1, random_state=0).fit(as_category[train_rows], y[train_rows])
        out["plain LightGBM"][val_rows] = booster.predict(as_category[val_rows])
        seconds["plain LightGBM"] += time.time() - started
        started = time.time()
        model = catboost.CatBoostRegressor(verbose=0, random_seed=0, cat_features=text, allow_writing_files=False)
        out["plain CatBoost"][val_rows] = model.fit(as_text[train_rows], y[train_rows]).predict(as_text[val_rows])
        seconds["plain CatBoost"] += time.time() - started
        started = time.time()
        ridge = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), RidgeCV(alphas=np.logspace(-1, 4, 30)))
        ridge.fit(onehot[train_rows], y[train_rows])
        out["RidgeCV"][val_rows] = ridge.predict(onehot[val_rows])
        seconds["RidgeCV"] += time.time() - started
    return out, seconds, y, folds


def autogluon_row(args, data_dir: Path, folds_csv: Path, seconds: float, y: np.ndarray, workdir: Path) -> tuple:
    """AutoGluon best_quality on the same folds, given the stack's whole wall time (its own interpreter)."""
    import subprocess

    out = workdir / f"autogluon-{args.slug}.csv"
    started = time.time()
    done = subprocess.run([args.autogluon, str(Path(__file__).with_name("autogluon_peer.py")), str(data_dir / "train.csv"),
                           str(folds_csv), TARGETS[args.slug], str(seconds), str(out), "--log-target"])  # fmt: skip
    name = "AutoGluon best_quality (peer, same time)"
    if done.returncode == 3:  # no model within the time: said by the peer
        return (name + " [no model in time]", float("nan"), time.time() - started, None)
    done.check_returncode()
    predictions = pd.read_csv(out, dtype={"id": str})["prediction"].to_numpy()
    return (name, rmse(predictions, y), time.time() - started, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("slug", choices=list(TARGETS))
    parser.add_argument("--data-dir", help="the competition folder (default: WORKDIR/data/SLUG)")
    parser.add_argument("--synthetic", action="store_true", help="build the synthetic fixture at full size first")
    parser.add_argument("--workdir", default=".", help="where data/ and runs/ go")
    parser.add_argument("--experiment", default="bench-stack")
    parser.add_argument("--reuse", action="store_true", help="read an existing stack run instead of fitting it")
    parser.add_argument("--stack-seconds", type=float, help="with --reuse: the stack's wall time (for AutoGluon's budget)")
    parser.add_argument("--families", help="the stack's families, e.g. lightgbm,catboost,ridge,mlp,tabm (default: "
                        "the stack preset's)")  # fmt: skip
    parser.add_argument("--autogluon", metavar="PYTHON", help="an interpreter with AutoGluon: fit its best_quality "
                        "on the same folds with the stack's wall time (benchmarks/autogluon_peer.py)")  # fmt: skip
    parser.add_argument("--reruns", type=int, default=1, help="N runs with seeds 0..N-1 (WORKDIR/seed<S>: new folds), "
                        "then each model's mean and spread")  # fmt: skip
    # Any other option goes to every family's `compete fit`, e.g. --n-folds=5
    args, overrides = parser.parse_known_args(argv)
    workdir = Path(args.workdir)
    data_dir = Path(args.data_dir) if args.data_dir else workdir / "data" / args.slug
    if args.synthetic and not data_dir.exists():
        from tests.fixtures_tabular import make_ames, make_california

        made = (make_ames if args.slug.startswith("house") else make_california)(data_dir.parent)
        print(f"synthetic data: {made}", file=sys.stderr)
    if args.reruns <= 1:
        return 0 if run_once(args, overrides, workdir, data_dir) is not None else 1
    results = []
    for seed in range(args.reruns):
        rows = run_once(args, [*overrides, f"--seed={seed}"], workdir / f"seed{seed}", data_dir)
        if rows is None:
            return 1
        results.append([(name, score) for name, score, _, _ in rows])
    summarise(results, "OOF rmse_log (lower is better)")
    return 0


def run_once(args, overrides: list[str], workdir: Path, data_dir: Path) -> list[tuple] | None:
    """One run: the stack, the peers on its folds, the table; its rows (None when the fit failed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    runs = workdir / "runs" / args.slug
    config = "stack"
    if args.families:
        config = str(workdir / f"{args.experiment}.yaml")
        Path(config).write_text(yaml.safe_dump({"stack": {"families": args.families.split(","), "weights": "auto"}}))
    started = time.time()
    if not args.reuse:
        argv = ["fit", args.slug, "--config", config, "--data-dir", str(data_dir), "--runs-dir", str(workdir / "runs"),
                "--experiment", args.experiment, *overrides]  # fmt: skip
        if compete(argv) != 0:
            return None
    stack_seconds = args.stack_seconds if args.reuse and args.stack_seconds else time.time() - started
    blend = json.loads((runs / args.experiment / "ensemble.json").read_text())
    members = [Path(m["run"]) for m in blend["members"]]
    oof = pd.concat([pd.read_csv(p, dtype={"id": str}) for p in sorted(members[0].glob("fold*/oof.csv"))])
    plain, plain_seconds, y, folds = peers(data_dir, members[0] / "folds.csv", TARGETS[args.slug])

    rows = []
    for member in blend["members"]:
        run = Path(member["run"])
        history = yaml.safe_load((run / "config.yaml").read_text())["history"]
        rows.append((run.name.removeprefix(f"{args.experiment}-"), member["oof"], history[-1].get("seconds"), member["weight"]))
    rows.append(("stack (nested OOF)", blend["oof_nested"], None, None))
    rows.append(("stack (weights fitted on these rows)", blend["oof"], None, None))
    for name, values in plain.items():
        rows.append((name + " (peer)", rmse(values, y), plain_seconds[name], None))
    if args.autogluon:
        rows.append(autogluon_row(args, data_dir, members[0] / "folds.csv", stack_seconds, y, workdir))

    print(f"\n{args.slug}: {len(oof)} rows, {len(np.unique(folds))} folds, data {data_dir}")
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs; the stack's "
          f"whole run (fit, predict, blend) {stack_seconds:.0f}s; weights by {blend.get('weighting', blend['weights_by'])}")
    print(f"{'model':<40}{'OOF rmse_log':>13}{'fit s':>8}{'weight':>8}")
    for name, score, seconds, weight in rows:
        shown_s = f"{seconds:8.1f}" if seconds is not None else f"{'':8}"
        shown_w = f"{weight:8.2f}" if weight is not None else ""
        print(f"{name:<40}{score:>13.4f}{shown_s}{shown_w}")
    return rows


if __name__ == "__main__":
    sys.exit(main())
