"""Tables `compete init` reads (no catalog entry): the stack of every family next to a plain LightGBM and
`LogisticRegressionCV`, on the same folds, scored on the same rows.

Builds a table in Kaggle's layout (Titanic-shaped, or a Playground-style binary table scored by AUC; or
takes a real download with --data-dir), runs `compete init` and `compete fit SLUG --config stack`
(LightGBM, logistic regression and the MLP from the tabular shape's presets, blended), then fits the
peers a competent user would write by hand on the same folds.csv: `LGBMClassifier()` and
`CatBoostClassifier()` with default parameters (text columns as categories) and `LogisticRegressionCV` on one-hot columns
(median-imputed, standardised). Prints the pooled out-of-fold metric of each and the seconds each took;
with a synthetic table it also scores every submission on the held-out test rows, whose labels it kept,
and prints the score each is expected to get there ("expected"): every held-out row counted as either
class, weighted by the generator's own probability, so the coin flips of 418 labels do not decide
a margin of a row or two. ``--heldout-rows N`` holds out N rows instead of the competition's count.

    python benchmarks/tables.py titanic --workdir /tmp/tables
    python benchmarks/tables.py playground --workdir /tmp/tables
    python benchmarks/tables.py titanic --data-dir data/titanic --metric accuracy
    python benchmarks/tables.py playground --workdir /tmp/tables --autogluon /tmp/ag/bin/python --reruns 3
    python benchmarks/tables.py titanic --workdir /tmp/tables --heldout-rows 20000 --autogluon /tmp/ag/bin/python --reruns 3

``--autogluon PYTHON`` adds AutoGluon's ``best_quality`` (its neural models included) fitted on the same
folds with the stack's whole wall time (benchmarks/autogluon_peer.py, in an interpreter of its own);
``--reruns N`` repeats everything with seeds 0..N-1 (new folds) and prints each model's mean and spread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reruns import summarise  # noqa: E402
from competitions.commands.cli import main as compete  # noqa: E402
from competitions.core.metrics import get_metric  # noqa: E402

TABLES = {"titanic": ("accuracy", 891, 418), "playground": ("auc", 3000, 2000)}


def synthetic(kind: str, root: Path, n_test: int | None = None) -> tuple[Path, pd.DataFrame]:
    """The table in its Kaggle layout, and by test id what it does not ship: the held-out ``label`` and
    the ``oracle``, the probability of the positive class the generator drew the label from (its
    Bayes classifier: the ceiling any model can reach on these rows). ``n_test``: held-out rows other
    than the competition's own count (the training rows stay at the real size)."""
    from tests.test_init_tabular import make_playground, make_titanic

    _, n_train, real_test = TABLES[kind]
    n_test = n_test or real_test
    if kind == "titanic":
        full = make_titanic(root / "full", n_train=n_train + n_test, n_test=1)
        slug, id_column, target = "titanic", "PassengerId", "Survived"
    else:
        full = make_playground(root / "full", "playground", binary=True, n_train=n_train + n_test, n_test=1)
        slug, id_column, target = "playground", "id", "target"
    frame = pd.read_csv(full / "train.csv", dtype={id_column: str})
    data = root / "data" / slug
    data.mkdir(parents=True, exist_ok=True)
    frame.iloc[:n_train].to_csv(data / "train.csv", index=False)
    test = frame.iloc[n_train:]
    test.drop(columns=target).to_csv(data / "test.csv", index=False)
    sample = pd.read_csv(next(full.glob("*submission*.csv")))
    constant = sample.iloc[0, 1]
    pd.DataFrame({id_column: test[id_column], target: constant}).to_csv(data / sample_name(full), index=False)
    return data, pd.DataFrame({"label": test[target].to_numpy(), "oracle": oracle(kind, test)}, index=test[id_column])


def oracle(kind: str, rows: pd.DataFrame) -> np.ndarray:
    """P(positive class) of each row under the generator's own formula."""
    from scipy.stats import norm

    from tests.test_init_tabular import playground_signal, titanic_logit

    if kind == "titanic":
        logit = titanic_logit(rows["Sex"].to_numpy(), rows["Pclass"].to_numpy(), rows["Age"].to_numpy(dtype=float))
        return 1 / (1 + np.exp(-logit))
    x = rows[[f"f{i}" for i in range(4)]].to_numpy(dtype=float)
    return norm.cdf((playground_signal(x, rows["colour"].to_numpy()) - 0.3) / 0.7)


def sample_name(folder: Path) -> str:
    return next(folder.glob("*submission*.csv")).name


def peers(data_dir: Path, folds_csv: Path, target: str, classes: list[str]):
    """OOF and test probabilities of the plain peers on the given folds, and their seconds."""
    import lightgbm as lgb
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    ids = train.iloc[:, 0].astype(str)
    fold_of = pd.read_csv(folds_csv, dtype={"id": str}).set_index("id")["fold"]
    folds = ids.map(fold_of).to_numpy()
    y = train[target].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
    both = pd.concat([train.drop(columns=[train.columns[0], target]), test.drop(columns=[test.columns[0]])])
    as_category = both.copy()
    for column in as_category.columns:  # the usual first notebook: text columns as categories
        if not pd.api.types.is_numeric_dtype(as_category[column]):
            as_category[column] = as_category[column].astype("category")
    numeric = both.select_dtypes("number").columns
    few = [c for c in both.columns if c not in numeric and both[c].nunique() <= 100]  # names and the like dropped
    onehot = pd.get_dummies(both[[*numeric, *few]], dummy_na=True).astype(float)
    n = len(train)
    text = [c for c in both.columns if c not in numeric]
    as_text = both.copy()  # CatBoost takes text categories as strings
    as_text[text] = as_text[text].astype(object).where(as_text[text].notna(), "missing").astype(str)
    out = {name: [np.zeros((n, len(classes))), np.zeros((len(test), len(classes)))]
           for name in ("plain LightGBM", "plain CatBoost", "LogisticRegressionCV")}  # fmt: skip
    seconds = dict.fromkeys(out, 0.0)
    for fold in np.unique(folds):
        rows, val = folds != fold, folds == fold
        for name in out:
            started = time.time()
            if name == "plain LightGBM":
                model = lgb.LGBMClassifier(verbose=-1, random_state=0).fit(as_category[:n][rows], y[rows])
                features = as_category
            elif name == "plain CatBoost":
                import catboost

                model = catboost.CatBoostClassifier(verbose=0, random_seed=0, cat_features=text, allow_writing_files=False)
                model.fit(as_text[:n][rows], y[rows])
                features = as_text
            else:
                model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                      LogisticRegressionCV(Cs=12, max_iter=2000, scoring=None, use_legacy_attributes=False))  # fmt: skip
                model.fit(onehot[:n][rows], y[rows])
                features = onehot
            out[name][0][val] = model.predict_proba(features[:n][val])
            out[name][1] += model.predict_proba(features[n:]) / len(np.unique(folds))
            seconds[name] += time.time() - started
    return out, seconds, y


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=list(TABLES))
    parser.add_argument("--data-dir", help="a real download (default: build the synthetic table in WORKDIR/data)")
    parser.add_argument("--metric", help="the competition's metric (default: the table's)")
    parser.add_argument("--workdir", default=".", help="where data/, runs/ and competitions.d/ go")
    parser.add_argument("--autogluon", metavar="PYTHON", help="an interpreter with AutoGluon (the same wall time)")
    parser.add_argument("--reruns", type=int, default=1, help="N runs with seeds 0..N-1, then mean and spread")
    parser.add_argument("--heldout-rows", type=int, metavar="N",
                        help="held-out test rows of the synthetic table (default: the competition's, 418 / 2,000); "
                             "more rows measure a small margin, the training rows stay as many")  # fmt: skip
    args, overrides = parser.parse_known_args(argv)
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)  # compete init writes ./competitions.d/
    metric = args.metric or TABLES[args.table][0]
    heldout = None
    data_dir = Path(args.data_dir).resolve() if args.data_dir else None
    if data_dir is None:
        data_dir, heldout = synthetic(args.table, workdir, args.heldout_rows)
    slug = args.table
    if compete(["init", slug, "--data-dir", str(data_dir), "--metric", metric, "--force"]) != 0:
        return 1
    if args.reruns <= 1:
        return 0 if run_once(args, overrides, workdir / "runs", data_dir, metric, heldout) is not None else 1
    results = []
    for seed in range(args.reruns):
        rows = run_once(args, [*overrides, f"--seed={seed}"], workdir / f"seed{seed}" / "runs", data_dir, metric, heldout)
        if rows is None:
            return 1
        results.append([(name, score) for name, score, _, _ in rows if not np.isnan(score)])
        if heldout is not None:
            results[-1] += [(f"{name} [held-out]", test[0]) for name, _, _, test in rows if test]
            results[-1] += [(f"{name} [expected]", test[1]) for name, _, _, test in rows if test]
    summarise(results, f"OOF {metric} (higher is better)")
    return 0


def run_once(args, overrides: list[str], runs_dir: Path, data_dir: Path, metric: str, heldout) -> list[tuple] | None:
    """The stack, the peers (and AutoGluon) on its folds, the table; its rows (None when the fit failed)."""
    slug, workdir = args.table, Path.cwd()
    started = time.time()
    if compete(["fit", slug, "--config", "stack", "--data-dir", str(data_dir), "--experiment", "bench-stack",
                "--runs-dir", str(runs_dir), *overrides]) != 0:  # fmt: skip
        return None
    stack_seconds = time.time() - started
    runs = runs_dir / slug
    blend = json.loads((runs / "bench-stack" / "ensemble.json").read_text())
    first = Path(blend["members"][0]["run"])
    spec = __import__("yaml").safe_load((workdir / "competitions.d" / f"{slug}.yaml").read_text())
    target = spec["target_column"]
    oof = pd.read_csv(next(first.glob("fold0/oof.csv")))
    classes = [c for c in oof.columns if c not in ("id", "fold", target, "prediction")]
    plain, plain_seconds, y = peers(data_dir, first / "folds.csv", target, classes)
    scorer = get_metric(metric)

    def heldout_score(probabilities: np.ndarray | None, submission: Path | None) -> tuple[float, ...]:
        """The held-out score and its expected value under the generator's own probabilities."""
        if heldout is None:
            return ()
        truth = heldout["label"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
        if probabilities is None:  # a written submission: labels, or the positive class's probability
            written = pd.read_csv(submission, dtype=str).iloc[:, 1]
            if spec["submission"] == "label":
                probabilities = np.eye(len(classes))[written.map({c: i for i, c in enumerate(classes)}).to_numpy()]
            else:
                p = written.astype(float).to_numpy()
                probabilities = np.column_stack([1 - p, p])
        return scorer(truth, probabilities), expected_score(metric, probabilities, heldout["oracle"].to_numpy(),
                                                            classes.index("1"))  # fmt: skip

    rows = []
    for member in blend["members"]:
        run = Path(member["run"])
        rows.append((run.name.removeprefix("bench-stack-"), member["oof"], member["weight"], heldout_score(None, run / "submission.csv")))
    rows.append(("stack (nested OOF)", blend["oof_nested"], None, heldout_score(None, runs / "bench-stack" / "submission.csv")))
    for name, (values, test_values) in plain.items():
        rows.append((name + " (peer)", scorer(y, values), None, heldout_score(test_values, None)))
    if args.autogluon:
        found = autogluon_oof(args.autogluon, data_dir, first / "folds.csv", target, classes, stack_seconds,
                              runs_dir.parent, metric)  # fmt: skip
        if found is None:  # no model in time
            rows.append(("AutoGluon best_quality (peer, same time)", float("nan"), None, ()))
        else:
            rows.append(("AutoGluon best_quality (peer, same time)", scorer(y, found[0]), None, heldout_score(found[1], None)))
    if heldout is not None:  # the generator's own probabilities: what no model can beat on these rows
        p = heldout["oracle"].to_numpy()
        rows.append(("ceiling: the generator's P(y)", float("nan"), None, heldout_score(np.column_stack([1 - p, p]), None)))
    print(f"\n{slug}: {len(y)} training rows, {len(np.unique(pd.read_csv(first / 'folds.csv')['fold']))} folds, "
          f"data {data_dir}; the whole stack ({len(blend['members'])} families, predict, blend) {stack_seconds:.0f} s")  # fmt: skip
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; peers fitted in "
          + ", ".join(f"{k} {v:.1f} s" for k, v in plain_seconds.items()))
    held = f"{'held-out':>10}{'expected':>10}" if heldout is not None else ""
    print(f"{'model':<32}{'OOF ' + metric:>14}{'weight':>8}{held}")
    for name, score, weight, test_scores in rows:
        shown_w = f"{weight:8.2f}" if weight is not None else f"{'':8}"
        print(f"{name:<32}{score:>14.4f}{shown_w}" + "".join(f"{value:>10.4f}" for value in test_scores))
    return rows


def expected_score(metric: str, probabilities: np.ndarray, oracle: np.ndarray, positive: int) -> float:
    """The held-out score without the coin flips of the held-out labels: each row counted once as the
    positive class with weight P(positive) under the generator and once as the other with the rest
    (accuracy: the expected share of right answers; AUC: the weighted pairs' share ranked right)."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    truth = np.r_[np.ones(len(oracle)), np.zeros(len(oracle))]
    weight = np.r_[oracle, 1 - oracle]
    is_positive = np.argmax(probabilities, axis=1) == positive
    if metric == "accuracy":
        return float(accuracy_score(truth, np.r_[is_positive, is_positive], sample_weight=weight))
    score = np.r_[probabilities[:, positive], probabilities[:, positive]]
    return float(roc_auc_score(truth, score, sample_weight=weight))


AUTOGLUON_METRICS = {"accuracy": "accuracy", "auc": "roc_auc", "log_loss": "log_loss"}


def autogluon_oof(python: str, data_dir: Path, folds_csv: Path, target: str, classes: list[str], seconds: float,
                  workdir: Path, metric: str) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """AutoGluon's out-of-fold class probabilities of every training row and of the test rows, given
    ``seconds`` in all (None: no model finished in that time)."""
    import subprocess

    out, test_out = workdir / "autogluon-oof.csv", workdir / "autogluon-test.csv"
    done = subprocess.run([python, str(Path(__file__).with_name("autogluon_peer.py")), str(data_dir / "train.csv"),
                           str(folds_csv), target, str(seconds), str(out), "--proba",
                           "--test", str(data_dir / "test.csv"), str(test_out),
                           "--metric", AUTOGLUON_METRICS.get(metric, metric)])  # fmt: skip
    if done.returncode == 3:  # no model within the time (the peer said so)
        return None
    done.check_returncode()
    columns = [str(c) for c in classes]
    oof, test = (pd.read_csv(path, dtype={"id": str})[columns].to_numpy(dtype=float) for path in (out, test_out))
    return oof, test


if __name__ == "__main__":
    sys.exit(main())
