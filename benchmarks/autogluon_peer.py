"""The AutoGluon peer of the table benchmarks, run with an interpreter that has AutoGluon (an optional
extra the benchmark installs in a virtualenv of its own, never a compete dependency):

    python -m venv /tmp/ag && /tmp/ag/bin/pip install "autogluon.tabular[all]==1.6.3"
    /tmp/ag/bin/python benchmarks/autogluon_peer.py TRAIN.csv FOLDS.csv TARGET SECONDS OUT.csv [--log-target]

By default TabularPredictor(presets="best_quality", time_limit=SECONDS) is fitted once on every row, as a
user would, and its own out-of-fold predictions (best_quality bags every model over folds of its own) are
written: an honest score on the same rows with the whole time. With --per-fold, it is instead fitted on
each fold of FOLDS.csv (the stack's folds) with SECONDS / folds and predicts the fold's rows. If no model
finishes in time the peer exits with status 3 and says so. OUT.csv holds
the out-of-fold predictions (id, prediction; the log of the target with --log-target; with --proba one
column of probabilities per class, named by the class as the training CSV writes it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("train", "folds", "target"):
        parser.add_argument(name)
    parser.add_argument("seconds", type=float, help="the whole budget, shared by the folds")
    parser.add_argument("out")
    parser.add_argument("--log-target", action="store_true")
    parser.add_argument("--metric", default="root_mean_squared_error", help="AutoGluon's eval_metric name")
    parser.add_argument("--proba", action="store_true", help="classification: write class probabilities")
    parser.add_argument("--per-fold", action="store_true", help="fit on each fold of FOLDS.csv (SECONDS shared)")
    parser.add_argument("--test", nargs=2, metavar=("TEST.csv", "OUT.csv"),
                        help="also predict TEST.csv's rows (once fitted on every row) into OUT.csv")  # fmt: skip
    args = parser.parse_args()
    from autogluon.tabular import TabularPredictor

    train = pd.read_csv(args.train, dtype={args.target: str} if args.proba else None)
    ids = train.iloc[:, 0].astype(str)
    fold_of = pd.read_csv(args.folds, dtype={"id": str}).set_index("id")["fold"]
    folds = ids.map(fold_of).to_numpy()
    frame = train.drop(columns=[train.columns[0]])
    if args.log_target:
        frame[args.target] = np.log(frame[args.target].astype(float))
    classes = sorted(frame[args.target].unique()) if args.proba else []
    out = np.zeros((len(frame), len(classes))) if args.proba else np.empty(len(frame))
    started = time.time()
    parts = [folds == fold for fold in np.unique(folds)] if args.per_fold else [np.ones(len(frame), dtype=bool)]
    for held in parts:
        with tempfile.TemporaryDirectory() as path:
            predictor = TabularPredictor(label=args.target, eval_metric=args.metric, path=path, verbosity=0)
            rows = frame[~held] if args.per_fold else frame
            try:
                predictor.fit(rows, presets="best_quality", time_limit=args.seconds / len(parts))
            except RuntimeError as err:  # "No models were trained successfully during fit()"
                print(f"autogluon: no model within {args.seconds / len(parts):.0f}s ({err})"[:300], file=sys.stderr)
                return 3
            if not args.per_fold and args.test:
                write_test(predictor, args, classes)
            if not args.per_fold:  # its own bagged out-of-fold predictions of every row
                oof = predictor.predict_proba_oof() if args.proba else predictor.predict_oof()
                out[:] = oof.reindex(columns=classes, fill_value=0.0).to_numpy() if args.proba else oof.to_numpy()
            elif args.proba:
                out[held] = predictor.predict_proba(frame[held]).reindex(columns=classes, fill_value=0.0).to_numpy()
            else:
                out[held] = predictor.predict(frame[held].drop(columns=[args.target])).to_numpy()
    if args.proba:
        pd.concat([pd.DataFrame({"id": ids}), pd.DataFrame(out, columns=classes)], axis=1).to_csv(args.out, index=False)
    else:
        pd.DataFrame({"id": ids, "prediction": out}).to_csv(args.out, index=False)
    print(f"autogluon: {time.time() - started:.0f}s", file=sys.stderr)
    return 0


def write_test(predictor, args, classes: list) -> None:
    """The test rows' predictions (class probabilities with --proba), id first."""
    test = pd.read_csv(args.test[0])
    ids, rows = test.iloc[:, 0].astype(str), test.drop(columns=[test.columns[0]])
    if args.proba:
        values = predictor.predict_proba(rows).reindex(columns=classes, fill_value=0.0)
        out = pd.concat([pd.DataFrame({"id": ids}), values.reset_index(drop=True)], axis=1)
    else:
        out = pd.DataFrame({"id": ids, "prediction": predictor.predict(rows).to_numpy()})
    out.to_csv(args.test[1], index=False)


if __name__ == "__main__":
    sys.exit(main())
