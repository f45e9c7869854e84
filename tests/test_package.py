"""Code competitions: `compete package` writes a Kaggle dataset + an offline inference notebook; the
notebook, run by nbclient in a virtualenv that stands for Kaggle's image (no compete, no lightning, no
network), installs from the bundled wheels only and writes the same bytes as compete predict / ensemble."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from competitions.commands.cli import main
from competitions.pipeline.wheels import KAGGLE_IMAGE_LACKS
from tests.fixtures import make_cifar10
from tests.fixtures_tabular import make_ames
from tests.helpers import error_line
from tests.kaggle_image import make_image

AMES = "house-prices-advanced-regression-techniques"


@pytest.fixture(scope="module")
def predicted(tmp_path_factory) -> dict[str, Path]:
    """A cifar-10 run (debug, 2 folds) and an Ames stack (LightGBM, ridge, MLP; 2 folds), fitted and predicted."""
    root = tmp_path_factory.mktemp("predicted")
    cifar = make_cifar10(root / "data")
    ames = make_ames(root / "data", n_train=120, n_test=40)
    runs = str(root / "runs")
    assert main(["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar), "--runs-dir", runs]) == 0
    assert main(["predict", "cifar-10", "--run", f"{runs}/cifar-10/baseline", "--tta", "hflip"]) == 0
    quick = root / "quick-lgb.yaml"
    quick.write_text("model: {n_estimators: 40, early_stopping_rounds: 10}\n")
    stack = root / "stack.yaml"
    stack.write_text(yaml.safe_dump({"stack": {"families": ["lightgbm", "ridge", "mlp"], "weights": "oof",
                                               "configs": {"lightgbm": str(quick), "mlp": "debug"}}}))  # fmt: skip
    assert main(["fit", AMES, "--config", str(stack), "--n-folds=2", "--data-dir", str(ames), "--runs-dir", runs]) == 0
    return {"root": root, "cifar-data": cifar, "ames-data": ames, "cifar": Path(runs) / "cifar-10" / "baseline",
            "stack": Path(runs) / AMES / "stack"}  # fmt: skip


def run_notebook(notebook: Path, inputs: Path, working: Path, monkeypatch) -> str:
    """Execute ``notebook`` in the Kaggle-image kernel with INPUT/WORKING pointed at the temp folders; its text."""
    from nbclient import NotebookClient

    working.mkdir(parents=True)
    monkeypatch.setenv("COMPETE_INPUT", str(inputs))
    monkeypatch.setenv("COMPETE_WORKING", str(working))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    book = nbformat.read(notebook, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="kaggle-image", resources={"metadata": {"path": str(working)}}).execute()
    outputs = [o for cell in book.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    return "".join(o.get("text", "") for o in outputs)


def test_packaged_runs_predict_offline_in_a_kaggle_like_notebook_byte_for_byte(predicted, tmp_path, monkeypatch, capsys):
    python, refused = make_image(tmp_path / "image", list(KAGGLE_IMAGE_LACKS))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "image" / "jupyter"))
    # The stand-in image has torch and pandas but neither compete nor lightning: the wheels must bring them.
    probe = subprocess.run([str(python), "-c", "import torch, pandas, sklearn\nfor m in ('competitions', 'lightning'):\n"
                            "    try:\n        __import__(m); print(m)\n    except ImportError: pass"],
                           capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})  # fmt: skip
    assert probe.returncode == 0 and probe.stdout == "", probe.stderr
    cases = [("cifar-10", predicted["cifar"], predicted["cifar-data"]), (AMES, predicted["stack"], predicted["ames-data"])]
    for slug, run, data in cases:
        out = tmp_path / f"package-{slug}"
        assert main(["package", slug, "--run", str(run), "--out", str(out), "--owner", "tester"]) == 0
        err = capsys.readouterr().err
        assert "estimate: predicting" in err and "the limit is 9 h: fits" in err
        kernel = json.loads((out / "notebook" / "kernel-metadata.json").read_text())
        dataset = json.loads((out / "dataset" / "dataset-metadata.json").read_text())
        assert kernel["enable_internet"] is False and kernel["competition_sources"] == [slug]
        assert kernel["dataset_sources"] == [dataset["id"]] == [f"tester/compete-{slug}-models"[:57]]
        bundle = json.loads((out / "dataset" / "compete-bundle.json").read_text())
        wheels = sorted(p.name.split("-")[0] for p in (out / "dataset" / "wheels").glob("*.whl"))
        assert wheels == sorted(["compete", "lightning", "jsonargparse", "docstring_parser", "typeshed_client", "tabm",
                                 "rtdl_num_embeddings"])  # fmt: skip
        assert not list((out / "dataset" / "runs").rglob("last.ckpt")) and not list((out / "dataset").rglob("test/*"))
        # Kaggle mounts the competition and the dataset (unpacked) under /kaggle/input; here a temp folder.
        inputs = tmp_path / f"input-{slug}"
        shutil.copytree(data, inputs / slug)
        mounted = inputs / dataset["id"].split("/")[1]
        shutil.copytree(out / "dataset", mounted)
        if slug == AMES:  # the other ways Kaggle may mount the uploaded runs.zip and wheels.zip
            shutil.move(mounted / "runs" / slug, mounted / slug)
            (mounted / "runs").rmdir()
            shutil.make_archive(str(mounted / "wheels"), "zip", mounted / "wheels")
            shutil.rmtree(mounted / "wheels")
        text = run_notebook(out / "notebook" / "inference.ipynb", inputs, tmp_path / f"working-{slug}", monkeypatch)
        assert "install: compete==0.1.0" in text and "predict " in text and "total:" in text
        written = (tmp_path / f"working-{slug}" / "submission.csv").read_bytes()
        assert written == (run / "submission.csv").read_bytes()
        assert bundle["submission_sha256"] is not None
        if slug == AMES:
            blend = bundle["blend"]
            assert (blend["name"], blend["weights"]) == ("stack", "oof") and "blend stack" in text and "differ" not in text
            assert set(blend["member_weights"]) == {"stack-lightgbm", "stack-ridge", "stack-mlp"}
            assert [r["name"] for r in bundle["runs"]] == ["stack-lightgbm", "stack-ridge", "stack-mlp"]
        else:
            assert bundle["runs"][0]["predict"]["tta"] == "hflip"
    assert not refused.exists(), refused.read_text()  # nothing tried to reach the network


def test_package_refuses_bad_runs_in_one_line(predicted, tmp_path, capsys):
    run = tmp_path / "runs" / "cifar-10" / "baseline"
    shutil.copytree(predicted["cifar"], run)
    package = ["package", "cifar-10", "--owner", "tester", "--no-estimate"]
    assert main([*package, "--run", str(predicted["stack"]), "--out", str(tmp_path / "p1")]) == 1
    assert f"a run of '{AMES}', not of cifar-10" in error_line(capsys)
    assert main([*package, "--run", str(run), "--out", str(tmp_path / "p2"), "--max-dataset-gb", "0.000001"]) == 1
    assert "over Kaggle's dataset limit" in error_line(capsys)
    (run / "fold1" / "best.ckpt").unlink()
    assert main([*package, "--run", str(run), "--out", str(tmp_path / "p3")]) == 1
    assert "fold1/best.ckpt: not found (fold 1 made the run's submission)" in error_line(capsys)
    shutil.rmtree(run / "test")
    assert main([*package, "--run", str(run), "--out", str(tmp_path / "p4")]) == 1
    assert "not predicted yet" in error_line(capsys)
    for path in (tmp_path / "p1", tmp_path / "p2", tmp_path / "p3", tmp_path / "p4"):
        assert not path.exists()
    assert not list(tmp_path.glob(".p*"))  # no half-made package folder stays behind
    # An existing package is kept unless --force.
    made = tmp_path / "made"
    assert main([*package, "--run", str(predicted["cifar"]), "--out", str(made)]) == 0
    before = (made / "dataset" / "compete-bundle.json").read_bytes()
    assert main([*package, "--run", str(predicted["cifar"]), "--out", str(made)]) == 4
    assert "already holds files" in error_line(capsys)
    assert (made / "dataset" / "compete-bundle.json").read_bytes() == before
    assert main([*package, "--run", str(predicted["cifar"]), "--out", str(made), "--force", "--gpu", "on"]) == 0
    assert json.loads((made / "notebook" / "kernel-metadata.json").read_text())["enable_gpu"] is True


# ---- --push and submit --kernel: the real kaggle client against the fake server on 127.0.0.1 ---------
def package_to_push(predicted, tmp_path) -> Path:
    out = tmp_path / "pkg"
    assert main(["package", "cifar-10", "--run", str(predicted["cifar"]), "--out", str(out), "--no-estimate"]) == 0
    return out


def test_push_creates_then_versions_the_dataset_runs_the_notebook_and_fetches_its_output(
    kaggle_home, predicted, tmp_path, capsys
):
    from competitions import api

    fake, _ = kaggle_home
    out = package_to_push(predicted, tmp_path)  # the owner comes from kaggle.json: tester
    first = api.push("cifar-10", out, poll=0.01, timeout=10)
    assert first["kernel"] == "tester/compete-cifar-10-inference" and first["version"] == 1 and first["status"] == "COMPLETE"
    assert (Path(first["output"]) / "submission.csv").read_bytes() == fake.kernel_output["submission.csv"]
    assert (Path(first["output"]) / "compete-cifar-10-inference.log").is_file()
    [dataset] = fake.datasets.values()
    assert dataset["private"] is True and len(dataset["versions"]) == 1
    # Files as they are, folders (runs/, wheels/) as zips of their contents, which Kaggle unpacks.
    zipped = {name for blob in dataset["versions"][0] for name in zipfile_names(blob)}
    assert {"cifar-10/baseline/fold0/best.ckpt", "lightning-2.6.6-py3-none-any.whl"} <= zipped
    assert (out / "dataset" / "compete-bundle.json").read_bytes() in dataset["versions"][0]
    [pushed] = fake.kernels["tester/compete-cifar-10-inference"]["versions"]
    assert pushed["enableInternet"] is False and pushed["competitionDataSources"] == ["cifar-10"]
    assert pushed["datasetDataSources"] == ["tester/compete-cifar-10-models"] and pushed["kernelType"] == "notebook"
    assert json.loads(pushed["text"])["cells"][2]["source"].count("--no-index") == 1
    # Again: a new version of the same dataset, a second notebook version. Right after the push Kaggle
    # still reports the first run's COMPLETE: the push waits until the new run was seen running.
    fake.stale_status_polls = 1
    asked = len([r for r in fake.requests if r.path.endswith("/GetKernelSessionStatus")])
    second = api.push("cifar-10", out, poll=0.01, timeout=10)
    assert len([r for r in fake.requests if r.path.endswith("/GetKernelSessionStatus")]) - asked == 3
    assert second["version"] == 2 and len(dataset["versions"]) == 2 and len(fake.datasets) == 1
    pushes = [json.loads(line) for line in (out / "pushes.jsonl").read_text().splitlines()]
    assert [p["version"] for p in pushes] == [1, 2]
    assert not [r for r in fake.requests if r.method == "CONNECT"]


def zipfile_names(blob: bytes) -> list[str]:
    import io
    import zipfile

    try:
        return zipfile.ZipFile(io.BytesIO(blob)).namelist()
    except zipfile.BadZipFile:
        return []


def test_push_failures_end_in_one_line(kaggle_home, predicted, tmp_path, capsys):
    fake, _ = kaggle_home
    out = package_to_push(predicted, tmp_path)
    fake.errors["SaveKernel"] = (400, "Notebook title is too short")
    command = ["package", "cifar-10", "--run", str(predicted["cifar"]), "--out", str(out), "--force", "--no-estimate",
               "--push", "--poll", "0.01", "--timeout", "10"]  # fmt: skip
    # An estimate over the competition's limit (a hidden test set of 10^12 rows): refused before any request.
    asked = len(fake.requests)
    too_big = [c for c in command if c not in ("--no-estimate", "--force")] + ["--test-rows", str(10**12)]
    too_big[too_big.index("--out") + 1] = str(tmp_path / "too-big")
    assert main(too_big) == 1
    assert "over the competition's limit of 9 h; not pushed" in error_line(capsys)
    assert len(fake.requests) == asked
    assert main(command) == 6
    assert "pushing the notebook: Kaggle answered 400 - Notebook title is too short" in error_line(capsys)
    assert not fake.kernels  # nothing was pushed
    fake.kernel_final_status, fake.kernel_failure = "ERROR", "Your notebook hit an exception"
    fake.kernel_log = '[{"stream_name":"stderr","time":3.1,"data":"FileNotFoundError: no sampleSubmission.csv\\n"}]'
    assert main(command) == 6
    line = error_line(capsys)
    assert "ended ERROR on Kaggle: Your notebook hit an exception" in line and "FileNotFoundError" in line
    assert json.loads((out / "pushes.jsonl").read_text().splitlines()[-1])["status"] == "ERROR"


def kernel_submit(*extra: str) -> int:
    return main(["submit", "cifar-10", "--kernel", "tester/compete-cifar-10-inference", "--version", "1", "-m", "v1",
                 "--poll", "0.01", "--timeout", "5", *extra])  # fmt: skip


def test_submit_kernel_records_it_and_a_lost_reply_is_not_submitted_twice(kaggle_home, predicted, workdir, capsys):
    fake, _ = kaggle_home
    fake.kernels["tester/compete-cifar-10-inference"] = {"versions": [{}], "polls": 0}
    fake.fail_after["CreateCodeSubmission"] = "drop"  # Kaggle stores it, the reply is lost
    assert kernel_submit() == 6
    assert "may have stored the submission anyway" in error_line(capsys)
    assert len(fake.submissions) == 1
    assert kernel_submit() == 0  # found in Kaggle's list by its tag: recorded, not submitted again
    out, err = capsys.readouterr()
    assert "is already on Kaggle as ref 1000" in err and "public score 0.91234" in out
    assert len(fake.submissions) == 1 and fake.submissions[0]["kernel"] == "tester/compete-cifar-10-inference"
    entries = [json.loads(line) for line in (workdir / "runs" / "cifar-10" / "ledger.jsonl").read_text().splitlines()]
    assert entries[-1]["status"] == "COMPLETE" and entries[-1]["kernel_version"] == 1
    assert kernel_submit() == 1  # the same version again: refused unless --again
    assert "was already submitted" in error_line(capsys)
    assert main(["submit", "cifar-10", "--kernel", "tester/compete-cifar-10-inference", "--version", "7", "-m", "x",
                 "--poll", "0.01"]) == 6  # fmt: skip
    assert "no notebook tester/compete-cifar-10-inference version 7" in error_line(capsys)
    assert main(["submit", "cifar-10", "--kernel", "no-owner", "--version", "1", "-m", "x"]) == 1
    assert "OWNER/NAME" in error_line(capsys)
