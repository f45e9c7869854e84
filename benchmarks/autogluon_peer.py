"""The AutoGluon peer of the table benchmarks, run with an interpreter that has AutoGluon (an optional
extra the benchmark installs in a virtualenv of its own, never a compete dependency):

    python -m venv /tmp/ag && /tmp/ag/bin/pip install "autogluon.tabular[all]==1.6.3"
    /tmp/ag/bin/python benchmarks/autogluon_peer.py TRAIN.csv FOLDS.csv TARGET SECONDS OUT.csv [--log-target]

On each fold of FOLDS.csv (the competition's shared folds), TabularPredictor(presets="best_quality",
time_limit=SECONDS / folds) is fitted on the other folds' rows and predicts the fold's rows; OUT.csv holds
the out-of-fold predictions (id, prediction; the log of the target with --log-target).
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
    parser.add_argument("--metric", default="root_mean_squared_error")
    args = parser.parse_args()
    from autogluon.tabular import TabularPredictor

    train = pd.read_csv(args.train)
    ids = train.iloc[:, 0].astype(str)
    fold_of = pd.read_csv(args.folds, dtype={"id": str}).set_index("id")["fold"]
    folds = ids.map(fold_of).to_numpy()
    frame = train.drop(columns=[train.columns[0]])
    if args.log_target:
        frame[args.target] = np.log(frame[args.target].astype(float))
    out = np.empty(len(frame))
    started = time.time()
    for fold in np.unique(folds):
        held = folds == fold
        with tempfile.TemporaryDirectory() as path:
            predictor = TabularPredictor(label=args.target, eval_metric=args.metric, path=path, verbosity=0)
            predictor.fit(frame[~held], presets="best_quality", time_limit=args.seconds / len(np.unique(folds)))
            out[held] = predictor.predict(frame[held].drop(columns=[args.target])).to_numpy()
    pd.DataFrame({"id": ids, "prediction": out}).to_csv(args.out, index=False)
    print(f"autogluon: {time.time() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
