"""`compete package`: runs made ready for a code competition, whose submission is a notebook Kaggle runs
offline against a hidden test set.

OUT/dataset/   a Kaggle dataset (dataset-metadata.json): compete-bundle.json (what to predict and how),
               wheels/ (compete and the dependencies Kaggle's image lacks), runs/SLUG/EXPERIMENT/ (each
               run's config, folds, fold models and preprocessing, OOF predictions), spec.yaml
OUT/notebook/  the inference notebook (kernel-metadata.json: internet off, the competition and the dataset
               as sources, GPU when the runs were trained on one) that installs from the bundled wheels
               only and writes /kaggle/working/submission.csv (pipeline/packaged.py does the work)

Each run is packaged with the settings its last `compete predict` used (test/manifest.json), so the
notebook writes, byte for byte, the submission that predict (or the blend) wrote here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from competitions.catalog import COMPETITIONS
from competitions.core.artifacts import read_json, read_yaml, run_metadata, write_json
from competitions.core.console import info, warn
from competitions.core.errors import CompeteError, RunExistsError
from competitions.core.layout import RunLayout
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.factory import model_class
from competitions.pipeline.folds import fold_trainer_for
from competitions.pipeline.run_record import run_competition
from submissions.kaggle_api import config_file
from submissions.ledger import sha256

BUNDLE_FILE = "compete-bundle.json"
DATASET_LIMIT_GB = 100.0  # Kaggle's size limit of one dataset
# Files a notebook does not need: the other checkpoint, logs, W&B, the local predictions.
LEFT_OUT = ("logs", "worker.log", "wandb", "*.tmp")


@dataclass
class PackageOptions:
    out: Path
    owner: str | None = None  # Kaggle user name (default: KAGGLE_USERNAME, or kaggle.json's)
    dataset: str | None = None  # the dataset's slug (default: compete-SLUG-models)
    kernel: str | None = None  # the notebook's slug (default: compete-SLUG-inference)
    weights: str = "oof"  # several plain runs: how the blend weighs them (as compete ensemble)
    name: str = "ensemble"  # ... and its experiment name
    with_packages: list[str] = field(default_factory=list)
    wheels_from: Path | None = None  # a folder of wheels to take before packing installed ones
    gpu: str = "auto"  # on, off, or auto: on when the runs were trained on a GPU
    max_dataset_gb: float = DATASET_LIMIT_GB
    estimate: bool = True
    test_rows: int | None = None  # the hidden test set's rows, when not the local test set's
    force: bool = False


@dataclass
class Member:
    """One run of the package and the predict settings it is packaged with."""

    layout: RunLayout
    predict: dict


@dataclass
class Package:
    dataset: Path
    notebook: Path
    bundle: dict
    estimate: dict | None = None
    dataset_ref: str = ""
    kernel_ref: str = ""


# ---- which runs, with which settings -----------------------------------------------------------
def resolve_members(spec: CompetitionSpec, runs: list[Path], options: PackageOptions) -> tuple[list[Member], dict | None]:
    """The runs to package and the blend of them (None for one run). A blend (compete ensemble, a stack)
    stands for its members, blended as it was."""
    if not runs:
        raise CompeteError("compete package needs at least one --run directory")
    blend = None
    roots: list[Path] = []
    for run in runs:
        layout = RunLayout(run)
        if not layout.config.is_file():
            raise CompeteError(f"{layout.config}: not found; --run must be a directory written by compete fit")
        made_for = run_competition(layout)
        if made_for not in (None, spec.slug):
            raise CompeteError(f"{run}: a run of {made_for!r}, not of {spec.slug}; package runs of one competition")
        config = read_yaml(layout.config) or {}
        if config.get("family") == "blend":
            if len(runs) > 1:
                raise CompeteError(f"{run}: a blend; package it alone, or its members with --run each")
            recorded = read_json(layout.ensemble) if layout.ensemble.is_file() else {}
            blend = {"name": layout.root.name, "weights": config.get("weights", "oof"), "sha256": _sha(layout),
                     "member_weights": {Path(m["run"]).name: m["weight"] for m in recorded.get("members", [])}}  # fmt: skip
            roots = [Path(p) for p in config.get("ensemble") or []]
        else:
            roots.append(layout.root)
    if blend is None and len(roots) > 1:
        blend = {"name": options.name, "weights": options.weights, "sha256": None, "member_weights": None}
    names = [r.name for r in roots]
    if len(set(names)) < len(names) or (blend and blend["name"] in names):
        raise CompeteError(f"runs {', '.join(names)}: two have the same experiment name; rename one")
    return [member(spec, root) for root in roots], blend


def _sha(layout: RunLayout) -> str | None:
    return sha256(layout.submission) if layout.submission.is_file() else None


def member(spec: CompetitionSpec, root: Path) -> Member:
    """A run with the folds, checkpoint and TTA its last predict used; every fold's model file present."""
    layout = RunLayout(root)
    if not layout.config.is_file():
        raise CompeteError(f"{layout.config}: not found (a member of the blend was moved or removed)")
    if not layout.test_manifest.is_file():
        raise CompeteError(f"{root}: not predicted yet (no {layout.test_manifest.name}); run "
                           f"`compete predict {spec.slug} --run {root}` first, so the notebook can repeat it")  # fmt: skip
    manifest = read_json(layout.test_manifest)
    config = read_yaml(layout.config) or {}
    trainer = fold_trainer_for(model_class(spec, config.get("family")))
    checkpoint = manifest.get("checkpoint", "best")
    for fold in manifest["folds"]:
        path = trainer.model_file(layout, fold, checkpoint)
        if not path.is_file():
            raise CompeteError(f"{path}: not found (fold {fold} made the run's submission); train it again with "
                               f"compete fit --resume, or predict with the folds that are there")  # fmt: skip
    tta = manifest.get("tta")
    if tta == "auto" and layout.tta.is_file():  # the views predict chose, not the choice again
        tta = ",".join(read_json(layout.tta)["chosen"]) or "none"
    settings = {"folds": ",".join(map(str, manifest["folds"])), "checkpoint": checkpoint, "tta": tta,
                "calibrate": manifest.get("calibrate", "auto"), "sha256": _sha(layout),
                "accelerator": trainer.uses_accelerator}  # fmt: skip
    return Member(layout, settings)


# ---- the files ---------------------------------------------------------------------------------
def member_files(member: Member) -> list[Path]:
    """The files of one run the notebook needs, relative to the run folder."""
    layout, wanted = member.layout, {int(k) for k in member.predict["folds"].split(",")}
    files = [Path(name) for name in ("config.yaml", "folds.csv", "cv.json", "calibration.json", "tta.json")
             if (layout.root / name).is_file()]  # fmt: skip
    other = "last.ckpt" if member.predict["checkpoint"] == "best" else "best.ckpt"
    for fold_dir in sorted(p for p in layout.root.glob("fold*") if p.is_dir() and p.name[4:].isdigit()):
        k = int(fold_dir.name.removeprefix("fold"))
        for path in sorted(p for p in fold_dir.rglob("*") if p.is_file()):
            relative = path.relative_to(layout.root)
            if relative.parts[1] in LEFT_OUT or path.suffix == ".tmp" or path.name == other:
                continue
            if k in wanted or path.name in ("oof.csv", "metrics.json"):  # every fold's OOF: the blend's weights
                files.append(relative)
    return files


def kaggle_slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def kaggle_owner(owner: str | None) -> str:
    """The Kaggle user name the dataset and notebook belong to (the key is never read into anything)."""
    if owner:
        return owner
    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"]
    try:
        name = json.loads(config_file().read_text()).get("username")
    except (OSError, ValueError, AttributeError):
        name = None
    if not name:
        raise CompeteError("no Kaggle user name to own the dataset and notebook: pass --owner NAME (or set "
                           "KAGGLE_USERNAME, or keep ~/.kaggle/kaggle.json)")  # fmt: skip
    return str(name)


def check_size(members: list[Member], files: dict[str, list[Path]], limit_gb: float) -> int:
    total = sum((m.layout.root / f).stat().st_size for m in members for f in files[m.layout.root.name])
    if total > limit_gb * 1e9:
        biggest = max(members, key=lambda m: sum((m.layout.root / f).stat().st_size for f in files[m.layout.root.name]))
        raise CompeteError(f"the package would be {total / 1e9:.1f} GB, over Kaggle's dataset limit of {limit_gb:g} GB "
                           f"(largest: {biggest.layout.root}); package fewer runs or folds")  # fmt: skip
    return total


def uses_gpu(members: list[Member], choice: str) -> bool:
    if choice in ("on", "off"):
        return choice == "on"
    import torch

    for m in members:
        accelerator = str(((read_yaml(m.layout.config) or {}).get("trainer") or {}).get("accelerator", "auto"))
        if m.predict["accelerator"] and (accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())):
            return True
    return False


def package_runs(spec: CompetitionSpec, runs: list[str | Path], options: PackageOptions) -> Package:
    """Write OUT/dataset and OUT/notebook for ``runs`` (a folder of a half-made package never stays behind)."""
    members, blend = resolve_members(spec, [Path(r) for r in runs], options)
    files = {m.layout.root.name: member_files(m) for m in members}
    total = check_size(members, files, options.max_dataset_gb)
    owner = kaggle_owner(options.owner)
    dataset_slug = kaggle_slug(options.dataset or f"compete-{spec.slug}-models")[:50]
    kernel_slug = kaggle_slug(options.kernel or f"compete-{spec.slug}-inference")
    if len(dataset_slug) < 6:
        raise CompeteError(f"--dataset {options.dataset}: Kaggle wants a dataset slug of 6 to 50 characters")
    out = Path(options.out)
    if out.exists() and any(out.iterdir()) and not options.force:
        raise RunExistsError(f"{out}: already holds files; choose another --out, or --force to write it again")
    staging = out.parent / f".{out.name}.incoming-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        bundle = write_dataset(staging / "dataset", spec, members, files, blend, options)
        write_json(staging / "dataset" / "dataset-metadata.json", {"title": dataset_slug, "id": f"{owner}/{dataset_slug}",
                                                                   "licenses": [{"name": "CC0-1.0"}]})  # fmt: skip
        write_kernel(staging / "notebook", spec, owner, kernel_slug, dataset_slug, bundle)
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    info(f"package: {out / 'dataset'} ({total / 1e6:.1f} MB of runs: {', '.join(m.layout.root.name for m in members)}"
         f"{'; blended as ' + blend['name'] if blend else ''}) and {out / 'notebook'} (GPU "
         f"{'on' if bundle['gpu'] else 'off'}, internet off)")  # fmt: skip
    result = Package(out / "dataset", out / "notebook", bundle, None, f"{owner}/{dataset_slug}", f"{owner}/{kernel_slug}")
    if options.estimate:
        from competitions.pipeline.package_estimate import estimate_runtime

        result.estimate = estimate_runtime(spec, members, bundle["gpu"], options.test_rows)
    return result


def write_dataset(dataset: Path, spec: CompetitionSpec, members: list[Member], files: dict[str, list[Path]],
                  blend: dict | None, options: PackageOptions) -> dict:  # fmt: skip
    """The runs' files, the spec, the wheels and compete-bundle.json in ``dataset``; the bundle."""
    from competitions.pipeline.wheels import bundle_wheels

    for m in members:
        for relative in files[m.layout.root.name]:
            target = dataset / "runs" / spec.slug / m.layout.root.name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(m.layout.root / relative, target)
    shutil.copy2(spec.source, dataset / "spec.yaml")
    started = time.time()
    versions = bundle_wheels(dataset / "wheels", list(options.with_packages), options.wheels_from)
    info(f"wheels: {', '.join(f'{k} {v}' for k, v in versions.items())} ({time.time() - started:.0f}s)")
    bundle = {
        "format": 1,
        "competition": spec.slug,
        "built_in": spec.slug in COMPETITIONS,
        "spec": "spec.yaml",
        "runs": [{"name": m.layout.root.name, "predict": {k: v for k, v in m.predict.items() if k in
                  ("folds", "checkpoint", "tta", "calibrate")}} for m in members],  # fmt: skip
        "blend": {k: blend[k] for k in ("name", "weights", "member_weights")} if blend else None,
        "install": [f"{name}=={version}" for name, version in versions.items()],
        "submission_sha256": blend["sha256"] if blend else members[0].predict["sha256"],
        "gpu": uses_gpu(members, options.gpu),
        "runtime_limit_hours": spec.runtime_limit_hours,
        "made": run_metadata(),
    }
    write_json(dataset / BUNDLE_FILE, bundle)
    return bundle


def write_kernel(folder: Path, spec: CompetitionSpec, owner: str, kernel_slug: str, dataset_slug: str, bundle: dict) -> None:
    from competitions.pipeline.notebook import kernel_metadata, write_notebook

    write_notebook(folder / "inference.ipynb", spec, dataset_slug, bundle)
    write_json(folder / "kernel-metadata.json", kernel_metadata(spec, owner, kernel_slug, dataset_slug, bundle["gpu"]))


def _replace(staging: Path, out: Path) -> None:
    """Put the finished package in place of ``out`` (whose old contents go only once the new one is there)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except OSError:
        if old.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def warn_unless_fits(estimate: dict) -> None:
    if not estimate["fits"]:
        warn(f"the notebook would run about {estimate['kaggle_hours']:.1f} h on Kaggle, over the competition's "
             f"limit of {estimate['limit_hours']:g} h: package fewer folds or runs, or a smaller TTA")  # fmt: skip
