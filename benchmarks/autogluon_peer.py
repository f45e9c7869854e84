"""The AutoGluon peer of the table benchmarks, run with an interpreter that has AutoGluon (an optional
extra the benchmark installs in a virtualenv of its own, never a compete dependency):

    python -m venv /tmp/ag && /tmp/ag/bin/pip install "autogluon.tabular[all]==1.6.3"
    /tmp/ag/bin/python benchmarks/autogluon_peer.py TRAIN.csv FOLDS.csv TARGET SECONDS OUT.csv [--log-target]

On each fold of FOLDS.csv (the competition's shared folds), TabularPredictor(presets="best_quality",
time_limit=SECONDS / folds) is fitted on the other folds' rows and predicts the fold's rows; OUT.csv holds
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
    for fold in np.unique(folds):
        held = folds == fold
        with tempfile.TemporaryDirectory() as path:
            predictor = TabularPredictor(label=args.target, eval_metric=args.metric, path=path, verbosity=0)
            predictor.fit(frame[~held], presets="best_quality", time_limit=args.seconds / len(np.unique(folds)))
            rows = frame[held].drop(columns=[args.target])
            if args.proba:
                out[held] = predictor.predict_proba(rows).reindex(columns=classes, fill_value=0.0).to_numpy()
            else:
                out[held] = predictor.predict(rows).to_numpy()
    if args.proba:
        pd.concat([pd.DataFrame({"id": ids}), pd.DataFrame(out, columns=classes)], axis=1).to_csv(args.out, index=False)
    else:
        pd.DataFrame({"id": ids, "prediction": out}).to_csv(args.out, index=False)
    print(f"autogluon: {time.time() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
