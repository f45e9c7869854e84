"""House prices: every `compete` model family and the stack, next to a plain LightGBM and RidgeCV, same folds.

Runs `compete fit SLUG --config stack` (LightGBM, ridge and the MLP from their presets, on the
competition's shared folds, then the blend), and fits the peers a competent user would write by hand
on the same folds.csv: LightGBM with default parameters (object columns as pandas categories, log
target) and `RidgeCV` on one-hot columns (median-imputed, standardised, log target). Prints the pooled
out-of-fold RMSE of log price of each, with the seconds each took, and, with --synthetic, the RMSE on
the test rows, whose prices the generator keeps outside the competition folder (each peer predicts them
with the mean of its fold models, as a submission would).

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


def features(train: pd.DataFrame, test: pd.DataFrame, target: str) -> dict[str, pd.DataFrame]:
    """Training then test rows as each peer's usual first notebook prepares them."""
    x = pd.concat([train.drop(columns=[train.columns[0], target]), test.drop(columns=[test.columns[0]])])
    as_category = x.copy()  # LightGBM: text columns as pandas categories
    for column in as_category.columns:
        if not pd.api.types.is_numeric_dtype(as_category[column]):
            as_category[column] = as_category[column].astype("category")
    numeric = x.select_dtypes("number").columns
    # One-hot of the text columns with at most 100 values (addresses and descriptions dropped, as anyone would).
    few = [c for c in x.columns if c not in numeric and x[c].nunique() <= 100]
    onehot = pd.get_dummies(x[[*numeric, *few]], dummy_na=True).astype(float)
    onehot[numeric] = np.log1p(onehot[numeric].clip(lower=0))  # the log of skewed amounts, as every kernel does
    text = [c for c in x.columns if c not in numeric]
    as_text = x.copy()
    as_text[text] = as_text[text].astype(object).where(as_text[text].notna(), "missing").astype(str)  # CatBoost: strings
    return {"plain LightGBM": as_category, "plain CatBoost": as_text, "RidgeCV": onehot}


def peer_model(name: str, frame: pd.DataFrame):
    import catboost
    import lightgbm as lgb
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "plain LightGBM":
        return lgb.LGBMRegressor(verbose=-1, random_state=0)
    if name == "plain CatBoost":
        text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        return catboost.CatBoostRegressor(verbose=0, random_seed=0, cat_features=text, allow_writing_files=False)
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), RidgeCV(alphas=np.logspace(-1, 4, 30)))


def peers(data_dir: Path, folds_csv: Path, target: str) -> tuple[dict, dict[str, float], np.ndarray, np.ndarray]:
    """Per plain peer, its OOF log predictions on the given folds and its test log predictions (the mean
    of its fold models); their seconds, the log target and the folds."""
    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    fold_of = pd.read_csv(folds_csv, dtype={"id": str}).set_index("id")["fold"]
    folds = train.iloc[:, 0].astype(str).map(fold_of).to_numpy()
    y, n = np.log(train[target].to_numpy(dtype=float)), len(train)
    out, seconds = {}, {}
    for name, frame in features(train, test, target).items():
        started = time.time()
        oof, test_log = np.empty(n), np.zeros(len(test))
        for fold in np.unique(folds):
            rows, val = folds != fold, folds == fold
            model = peer_model(name, frame).fit(frame[:n][rows], y[rows])
            oof[val] = model.predict(frame[:n][val])
            test_log += model.predict(frame[n:]) / len(np.unique(folds))
        out[name], seconds[name] = (oof, test_log), time.time() - started
    return out, seconds, y, folds


def autogluon_row(args, data_dir: Path, folds_csv: Path, seconds: float, workdir: Path) -> tuple | None:
    """AutoGluon best_quality fitted once on every training row with the stack's whole wall time (its own
    interpreter): its out-of-fold and test log predictions (None: no model within the time)."""
    import subprocess

    out, test_out = workdir / f"autogluon-{args.slug}.csv", workdir / f"autogluon-{args.slug}-test.csv"
    done = subprocess.run([args.autogluon, str(Path(__file__).with_name("autogluon_peer.py")), str(data_dir / "train.csv"),
                           str(folds_csv), TARGETS[args.slug], str(seconds), str(out), "--log-target",
                           "--test", str(data_dir / "test.csv"), str(test_out)])  # fmt: skip
    if done.returncode == 3:  # no model within the time: said by the peer
        return None
    done.check_returncode()
    return tuple(pd.read_csv(path, dtype={"id": str})["prediction"].to_numpy() for path in (out, test_out))


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
    answers = data_dir.parent / f"{args.slug}-test-answers.csv"  # the synthetic test rows' prices
    if args.synthetic and not (data_dir.exists() and answers.exists()):
        from tests.fixtures_tabular import make_ames, make_california

        made = (make_ames if args.slug.startswith("house") else make_california)(data_dir.parent, answers=answers)
        print(f"synthetic data: {made}; the test rows' prices: {answers}", file=sys.stderr)
    args.answers = answers if answers.exists() else None
    if args.reruns <= 1:
        return 0 if run_once(args, overrides, workdir, data_dir) is not None else 1
    results = []
    for seed in range(args.reruns):
        rows = run_once(args, [*overrides, f"--seed={seed}"], workdir / f"seed{seed}", data_dir)
        if rows is None:
            return 1
        results.append([(name, score) for name, score, _, _, _ in rows])
        results[-1] += [(f"{name} [held-out]", test) for name, _, test, _, _ in rows if test is not None]
    summarise(results, "OOF rmse_log (lower is better)")
    return 0


def run_once(args, overrides: list[str], workdir: Path, data_dir: Path) -> list[tuple] | None:
    """One run: the stack, the peers on its folds, the table; its rows (name, OOF, held-out or None,
    seconds, weight), None when the fit failed."""
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
    plain, plain_seconds, y, folds = peers(data_dir, members[0] / "folds.csv", TARGETS[args.slug])
    truth = np.log(pd.read_csv(args.answers)[TARGETS[args.slug]].to_numpy(dtype=float)) if args.answers else None

    def held_out(submission: Path | None = None, log_predictions: np.ndarray | None = None) -> float | None:
        if truth is None:
            return None
        if submission is not None:  # a written submission: prices
            log_predictions = np.log(pd.read_csv(submission).iloc[:, 1].to_numpy(dtype=float))
        return rmse(log_predictions, truth)

    rows = []
    for member in blend["members"]:
        run = Path(member["run"])
        history = yaml.safe_load((run / "config.yaml").read_text())["history"]
        rows.append((run.name.removeprefix(f"{args.experiment}-"), member["oof"], held_out(run / "submission.csv"),
                     history[-1].get("seconds"), member["weight"]))  # fmt: skip
    rows.append(("stack (nested OOF)", blend["oof_nested"], held_out(runs / args.experiment / "submission.csv"), None, None))
    rows.append(("stack (weights fitted on these rows)", blend["oof"], None, None, None))
    for name, (values, test_values) in plain.items():
        rows.append((name + " (peer)", rmse(values, y), held_out(log_predictions=test_values), plain_seconds[name], None))
    if args.autogluon:
        found = autogluon_row(args, data_dir, members[0] / "folds.csv", stack_seconds, workdir)
        name = "AutoGluon best_quality (peer, same time)"
        scores = (rmse(found[0], y), held_out(log_predictions=found[1])) if found else (float("nan"), None)
        rows.append((name if found else name + " [no model in time]", *scores, None, None))
    print_table(args, rows, data_dir, len(y), folds, stack_seconds, blend)
    return rows


def print_table(args, rows: list[tuple], data_dir: Path, n: int, folds: np.ndarray, stack_seconds: float, blend: dict) -> None:
    print(f"\n{args.slug}: {n} training rows, {len(np.unique(folds))} folds, data {data_dir}")
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs; the stack's "
          f"whole run (fit, predict, blend) {stack_seconds:.0f}s; weights by {blend.get('weighting', blend['weights_by'])}")
    print(f"{'model':<42}{'OOF rmse_log':>13}{'held-out':>10}{'fit s':>8}{'weight':>8}")
    for name, score, test, seconds, weight in rows:
        shown_t = f"{test:10.4f}" if test is not None else f"{'':10}"
        shown_s = f"{seconds:8.1f}" if seconds is not None else f"{'':8}"
        shown_w = f"{weight:8.2f}" if weight is not None else ""
        print(f"{name:<42}{score:>13.4f}{shown_t}{shown_s}{shown_w}")


if __name__ == "__main__":
    sys.exit(main())
