"""Predicting from a package (what the inference notebook calls, on Kaggle or anywhere): the packaged runs
are copied to the working folder (the input is read-only), each is predicted with the settings it was
packaged with, the blend is made as it was, and WORKING/submission.csv is written; time per stage printed."""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

from competitions.core.artifacts import atomic_path, read_json
from competitions.core.console import info, out, warn
from competitions.core.errors import CompeteError
from competitions.pipeline.records import Submission

BUNDLE_FILE = "compete-bundle.json"


class Stages:
    """Seconds per stage, printed as each ends and as a table at the end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - started
        info(f"{name}: {self.seconds[name]:.1f}s")
        return result

    def report(self) -> None:
        width = max(map(len, self.seconds))
        out("\n".join(f"{name:<{width}}  {seconds:8.1f}s" for name, seconds in self.seconds.items()))


def copy_runs(bundle: Path, runs_dir: Path, slug: str) -> None:
    """The packaged runs into RUNS_DIR/SLUG/, however Kaggle mounted the uploaded runs.zip: unpacked as runs/,
    unpacked into the dataset's top folder, or left a zip."""
    if (bundle / "runs").is_dir():
        shutil.copytree(bundle / "runs", runs_dir, dirs_exist_ok=True)
    elif (bundle / slug).is_dir():
        shutil.copytree(bundle / slug, runs_dir / slug, dirs_exist_ok=True)
    elif (bundle / "runs.zip").is_file():
        with zipfile.ZipFile(bundle / "runs.zip") as archive:
            archive.extractall(runs_dir)
    else:
        raise CompeteError(f"{bundle}: no runs/ folder; is this a dataset written by compete package?")


def check_weights(recorded: dict | None, details: dict) -> None:
    """The blend's weights, fitted again on the packaged OOF predictions, are the ones packaged."""
    if not recorded:
        return
    now = {Path(m["run"]).name: m["weight"] for m in details["members"]}
    if any(abs(now.get(name, -1.0) - weight) > 1e-9 for name, weight in recorded.items()):
        warn(f"the blend's weights {now} differ from the packaged {recorded}: the submission differs from the local one")


def predict_bundle(bundle: str | Path, data_dir: str | Path, working: str | Path, *, out_name: str = "submission.csv",
                   runs_dir: str | Path | None = None) -> Submission:  # fmt: skip
    """Predict the competition in ``data_dir`` with the package in ``bundle``; WORKING/``out_name``."""
    from competitions.catalog import get_competition
    from competitions.catalog.spec_files import add_spec_files
    from competitions.pipeline.ensemble import ensemble_runs
    from competitions.pipeline.predict import PredictOptions, predict_run

    bundle, working = Path(bundle), Path(working)
    if not (bundle / BUNDLE_FILE).is_file():
        raise CompeteError(f"{bundle}: no {BUNDLE_FILE}; point at the folder of the dataset compete package wrote")
    manifest = read_json(bundle / BUNDLE_FILE)
    if not manifest["built_in"]:
        add_spec_files([bundle / manifest["spec"]])
    spec = get_competition(manifest["competition"])
    root = Path(runs_dir or working / "runs")
    stages = Stages()
    stages.run("copy runs", copy_runs, bundle, root, spec.slug)
    paths = []
    for run in manifest["runs"]:
        path = root / spec.slug / run["name"]
        options = PredictOptions(data_dir=str(data_dir), **run["predict"])
        submission = stages.run(f"predict {run['name']}", predict_run, spec, path, options)
        paths.append(path)
    blend = manifest.get("blend")
    if blend:
        submission = stages.run(f"blend {blend['name']}", ensemble_runs, spec, paths, blend["weights"], blend["name"],
                                data_dir, replace=True)  # fmt: skip
        check_weights(blend.get("member_weights"), submission.details)
    target = working / out_name
    with atomic_path(target) as temporary:
        shutil.copyfile(submission.path, temporary)
    stages.report()
    info(f"wrote {target} ({len(submission.frame)} rows)")
    return Submission(spec.slug, target, submission.frame, submission.validated_against, submission.details)
