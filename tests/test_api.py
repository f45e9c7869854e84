"""The Python API (competitions.fit, predict, ...): what each returns, and that errors raise the
project's exceptions instead of printing and exiting. The notebook examples/quickstart.ipynb runs here too."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from matplotlib.figure import Figure

import competitions
from competitions import (
    CompeteError,
    DataError,
    KaggleError,
    Run,
    RunExistsError,
    Submission,
    SubmissionError,
    demo_data,
    download,
    ensemble,
    fit,
    list_competitions,
    predict,
    runs,
    show,
    submit,
    validate,
)
from competitions.catalog import COMPETITIONS

CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def test_fit_predict_validate_runs_ensemble_return_their_types(cifar_dir, workdir):
    run = fit("cifar-10", data_dir=cifar_dir, config="debug", experiment="api", overrides={"trainer.max_epochs": 1})
    assert isinstance(run, Run) and run.path == Path("runs/cifar-10/api") and run.slug == "cifar-10"
    cv = run.cv
    assert set(cv["folds"]) == {"0", "1"} and {"mean", "std", "oof"} <= set(cv)
    oof = run.oof
    labels = pd.read_csv(cifar_dir / "trainLabels.csv", dtype=str)
    assert isinstance(oof, pd.DataFrame) and sorted(oof["id"]) == sorted(labels["id"])
    assert run.cv_table().loc["pooled OOF"].iloc[0] == pytest.approx(cv["oof"])
    config = json.dumps((run.path / "config.yaml").read_text())
    assert "max_epochs: 1" in config  # the override reached the run's config

    submission = predict(run)
    assert isinstance(submission, Submission) and submission.path == run.path / "submission.csv"
    written = pd.read_csv(submission.path, dtype=str)
    assert written.equals(submission.frame.astype(str)) and set(written["label"]) <= set(CIFAR10_CLASSES)
    assert submission.validated_against == cifar_dir.resolve() / "sampleSubmission.csv"

    checked = validate("cifar-10", submission.path)
    assert checked.valid and checked.rows == len(written)

    second = fit("cifar-10", data_dir=cifar_dir, config="debug", experiment="api2",
                 overrides={"trainer": {"max_epochs": 1}, "model": {"lr": 0.01}})  # fmt: skip
    predict(second.path)  # a run directory works as well as a Run
    blend = ensemble("cifar-10", [run, second], weights="equal")
    assert isinstance(blend, Submission) and [m["weight"] for m in blend.details["members"]] == [0.5, 0.5]

    table = runs("cifar-10")
    assert isinstance(table, pd.DataFrame) and {"api", "api2"} <= set(table.index)
    assert "model.lr" in table.columns  # the setting that differs

    entry = submit("cifar-10", submission.path, "api dry run", dry_run=True)
    assert entry["status"] == "dry-run" and entry["experiment"] == "api"
    again = submit("cifar-10", submission, "api dry run", dry_run=True)  # the Submission predict returned
    assert again["sha256"] == entry["sha256"] and again["experiment"] == "api"


def test_show_returns_a_figure_and_the_package_lists_its_api(cifar_dir, workdir):
    figure = show("cifar-10", data_dir=cifar_dir, config="debug", n=4)
    assert isinstance(figure, Figure) and len([ax for ax in figure.axes if ax.images]) == 4
    frame = list_competitions()
    assert "cifar-10" in frame.index and frame.loc["cifar-10", "task"] == "classification"
    for name in competitions.__all__:
        assert getattr(competitions, name) is not None, name
    with pytest.raises(AttributeError):
        competitions.no_such_function  # noqa: B018


def test_api_errors_raise_the_projects_exceptions(cifar_dir, workdir, monkeypatch, tmp_path):
    with pytest.raises(DataError, match="no such folder.*set `data_dir` to the competition folder"):
        fit("cifar-10", data_dir=workdir / "absent", config="debug")  # settings named as the API names them
    with pytest.raises(CompeteError, match="unknown competition 'cifar-11'"):
        fit("cifar-11")
    run = fit("cifar-10", data_dir=cifar_dir, config="debug", experiment="once", overrides={"trainer.max_epochs": 1})
    with pytest.raises(RunExistsError, match="already exists; set `resume` to continue it"):
        fit("cifar-10", data_dir=cifar_dir, config="debug", experiment="once")
    with pytest.raises(CompeteError, match="config.yaml: not found"):
        predict(workdir / "runs" / "cifar-10" / "nothing")
    with pytest.raises(CompeteError, match="cannot tell the competition"):
        predict(workdir / "elsewhere")
    bad = workdir / "bad.csv"
    bad.write_text("id,label\n1,cat\n")
    with pytest.raises(SubmissionError, match="rows"):
        validate("cifar-10", bad, data_dir=cifar_dir)
    with pytest.raises(CompeteError, match="at least two"):
        ensemble("cifar-10", [run])
    with pytest.raises(CompeteError, match="no experiment"):
        runs("dog-breed-identification")
    with pytest.raises(CompeteError, match="tabular"):
        show("california-house-prices", data_dir=workdir)
    for variable in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    predict(run)
    with pytest.raises(KaggleError, match="no Kaggle credentials"):
        submit("cifar-10", run.path / "submission.csv", "no credentials")
    with pytest.raises(KaggleError, match="no Kaggle credentials"):
        download("cifar-10", data_dir=workdir / "fresh")


def test_the_quickstart_notebook_runs_and_is_stored_without_outputs(workdir):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)  # stripped in the repo

    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the augmented grid, inline
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "pooled OOF" in html and "accuracy" in html  # the CV table
    text = "".join(o.get("text", "") for o in outputs)
    assert "held-out accuracy" in text and "Submission('cifar-10'" in text
    assert (workdir / "quickstart" / "runs" / "cifar-10" / "digits" / "submission.csv").exists()


def test_demo_data_is_the_demos_competition(workdir):
    data_dir, heldout = demo_data("here")
    assert (data_dir / "trainLabels.csv").exists() and (data_dir / "sampleSubmission.csv").exists()
    assert len(pd.read_csv(heldout)) == len(pd.read_csv(data_dir / "sampleSubmission.csv"))


def test_the_cli_words_settings_as_options(workdir, capsys):
    from competitions.commands.cli import cli_words, main

    assert cli_words("set `n_folds` to 3, `data_dir`, `model.pretrained_path`") == (
        "set --n-folds to 3, --data-dir, --model.pretrained_path"
    )
    assert main(["fit", "cifar-10", "--config", "debug", "--data-dir", str(workdir / "absent")]) == 3
    err = capsys.readouterr().err
    assert "set --data-dir to the competition folder" in err and "`" not in err
