"""`compete ensemble`: experiments blended with equal, CV or OOF-fitted weights, rows aligned by id."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from competitions.catalog import COMPETITIONS
from competitions.commands.cli import main

DOG_BREEDS = COMPETITIONS["dog-breed-identification"].classes

AMES = "house-prices-advanced-regression-techniques"
DOGS = "dog-breed-identification"


def two_runs(slug, data, workdir, second: list[str]):
    runs = []
    for name, extra in (("a", []), ("b", second)):
        assert main(["fit", slug, "--config", "debug", "--data-dir", str(data), "--experiment", name, *extra]) == 0
        run = workdir / "runs" / slug / name
        assert main(["predict", slug, "--run", str(run)]) == 0
        runs.append(run)
    return runs


def fold_mean(run, columns, log_scale):
    frames = [pd.read_csv(run / "test" / f"fold{k}.csv", dtype={"id": str}).set_index("id") for k in (0, 1)]
    values = [np.log(f[columns]) if log_scale else f[columns] for f in frames]
    mean = (values[0] + values[1]) / 2
    return np.exp(mean) if log_scale else mean


def test_house_prices_blends_on_the_log_scale_aligned_by_id(competition_dir, workdir):
    data = competition_dir(AMES)
    a, b = two_runs(AMES, data, workdir, ["--model.hidden=64", "--trainer.max_epochs=6"])
    # Shuffle one member's fold files (and record them so in its manifest): rows must be matched by id.
    manifest = json.loads((b / "test" / "manifest.json").read_text())
    for k in (0, 1):
        path = b / "test" / f"fold{k}.csv"
        pd.read_csv(path, dtype={"id": str}).sample(frac=1, random_state=k).to_csv(path, index=False)
        manifest["files"][path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (b / "test" / "manifest.json").write_text(json.dumps(manifest))
    assert main(["ensemble", AMES, str(a), str(b), "--weights", "equal", "--name", "even"]) == 0
    out = workdir / "runs" / AMES / "even"
    submission = pd.read_csv(out / "submission.csv", dtype={"Id": str})
    test = pd.read_csv(data / "test.csv", dtype={"Id": str})
    assert submission["Id"].tolist() == test["Id"].tolist()
    ids = submission["Id"]
    expected = np.sqrt(fold_mean(a, ["prediction"], True).loc[ids] * fold_mean(b, ["prediction"], True).loc[ids])
    np.testing.assert_allclose(submission["SalePrice"], expected["prediction"], rtol=1e-6)

    assert main(["ensemble", AMES, str(a), str(b), "--weights", "oof", "--name", "fitted"]) == 0
    summary = json.loads((workdir / "runs" / AMES / "fitted" / "ensemble.json").read_text())
    weights = [m["weight"] for m in summary["members"]]
    assert min(weights) >= 0 and sum(weights) == pytest.approx(1)
    assert summary["oof"] <= min(m["oof"] for m in summary["members"]) + 1e-4
    even = json.loads((out / "ensemble.json").read_text())
    assert summary["oof"] <= even["oof"] + 1e-9
    # An ensemble directory is submittable like a run: it names its data and its OOF score.
    assert main(["validate", AMES, str(workdir / "runs" / AMES / "fitted" / "submission.csv")]) == 0


def test_dog_breeds_blend_probabilities_with_cv_weights(competition_dir, workdir):
    data = competition_dir(DOGS)
    a, b = two_runs(DOGS, data, workdir, ["--model.lr=0.01", "--seed=3"])
    assert main(["ensemble", DOGS, str(a), str(b), "--weights", "cv"]) == 0
    out = workdir / "runs" / DOGS / "ensemble"
    summary = json.loads((out / "ensemble.json").read_text())
    losses = [m["oof"] for m in summary["members"]]
    inverse = 1 / np.array(losses)
    np.testing.assert_allclose([m["weight"] for m in summary["members"]], inverse / inverse.sum(), rtol=1e-9)
    submission = pd.read_csv(out / "submission.csv", dtype={"id": str})
    sample = pd.read_csv(data / "sample_submission.csv", dtype={"id": str})
    assert list(submission.columns) == list(sample.columns) and submission["id"].tolist() == sample["id"].tolist()
    np.testing.assert_allclose(submission[list(DOG_BREEDS)].sum(axis=1), 1, atol=1e-6)
    assert summary["calibration"]["log_loss_after"] <= summary["oof"] + 1e-9


def test_a_member_without_test_predictions_is_named(competition_dir, workdir, capsys):
    data = competition_dir(AMES)
    a, b = two_runs(AMES, data, workdir, [])
    for path in (b / "test").iterdir():
        path.unlink()
    assert main(["ensemble", AMES, str(a), str(b)]) == 1
    assert f"{b}: no test/fold<k>.csv; run `compete predict" in capsys.readouterr().err


def test_caruana_selection_weighs_by_counts_and_beats_each_member():
    from competitions.core.metrics import get_metric
    from submissions.weights import blend_weights

    rng = np.random.default_rng(0)
    truth = rng.normal(12, 0.4, 400)
    noise = rng.normal(0, 0.1, (2, 400))
    members = [np.exp(truth + noise[0]), np.exp(truth + noise[1]), np.exp(truth + rng.normal(0.3, 0.4, 400))]
    rmse_log = get_metric("rmse_log")
    weights = blend_weights("caruana", rmse_log, np.exp(truth), members, log_scale=True)
    assert abs(weights.sum() - 1) < 1e-12 and np.allclose(weights * 100, np.round(weights * 100))  # counts of 100
    assert weights[2] < 0.1 and min(weights[:2]) > 0.3  # the biased member is left (almost) out
    from submissions.averaging import weighted_mean

    blended = rmse_log(np.exp(truth), weighted_mean(members, weights, log_scale=True))
    assert blended < min(rmse_log(np.exp(truth), m) for m in members[:2])
    # On accuracy (classes) it selects on the metric itself.
    labels = rng.integers(0, 3, 300)
    good = np.eye(3)[labels] * 0.6 + 0.4 / 3
    bad = np.full((300, 3), 1 / 3)
    assert blend_weights("caruana", get_metric("accuracy"), labels, [bad, good], log_scale=False)[1] == 1.0
