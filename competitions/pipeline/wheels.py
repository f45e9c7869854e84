"""Wheels for an install without the internet: compete's own and those of the dependencies Kaggle's
image lacks, made from what is installed here (the versions the runs were trained with).

compete itself is built from its source tree when it runs from one (an editable install), else its
installed files are packed again; so is every other distribution (``wheel pack`` on a copy of its
installed files and dist-info, which keeps its platform tag).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from competitions.core.errors import CompeteError

PROJECT = "compete"

# compete's runtime dependencies that Kaggle's Python image (gcr.io/kaggle-images/python and its GPU twin,
# built by Kaggle/docker-python on the Colab base image) does not ship: bundled with every package.
# torch, torchvision, timm, albumentations, opencv, pandas, scikit-learn, lightgbm, optuna, wandb, kaggle,
# pyyaml, rich, filelock, safetensors and torchmetrics are in the image (it has pytorch-lightning, whose
# package is pytorch_lightning, not the `lightning` compete imports); tabm is the TabM family's.
# `compete package --with PKG` adds more.
KAGGLE_IMAGE_LACKS = ("lightning", "jsonargparse", "docstring-parser", "typeshed-client", "tabm", "rtdl-num-embeddings")

# Files of an installed distribution that are the installer's, not the wheel's.
INSTALLER_FILES = ("INSTALLER", "REQUESTED", "RECORD", "direct_url.json")


def source_tree() -> Path | None:
    """The folder compete runs from when it is a source checkout (setup.cfg beside the packages)."""
    root = Path(__file__).resolve().parents[2]  # competitions/pipeline/wheels.py
    return root if (root / "setup.cfg").is_file() and (root / "pyproject.toml").is_file() else None


def distribution(name: str) -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise CompeteError(f"--with {name}: not installed here, so there is no wheel of it to bundle; "
                           f"pip install {name} first") from None  # fmt: skip


def installed_version(name: str) -> str:
    return distribution(name).version


def project_wheel(out: Path) -> Path:
    """compete's wheel in ``out``: built from the source tree, or packed from the installed files."""
    root = source_tree()
    if root is None:
        return repack(PROJECT, out)
    with tempfile.TemporaryDirectory(prefix="compete-wheel-") as tmp:
        copy = Path(tmp) / "src"  # the build's egg-info and build/ stay out of the user's checkout
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
        copy.mkdir()
        for name in ("setup.cfg", "pyproject.toml", "README.md"):
            shutil.copy2(root / name, copy / name)
        for package in ("competitions", "datamodules", "lightning_modules", "estimators", "submissions"):
            shutil.copytree(root / package, copy / package, ignore=ignore)
        isolation = [] if importlib.util.find_spec("setuptools") else ["--use-pep517"]
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index", "--wheel-dir", str(out),
                   *(["--no-build-isolation"] if not isolation else isolation), str(copy)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CompeteError(f"building compete's wheel from {root} failed: {last}")
    return _wheel_named(out, PROJECT)


def repack(name: str, out: Path) -> Path:
    """A wheel of the installed distribution ``name``: its files (those in site-packages) and dist-info."""
    dist = distribution(name)
    files = [f for f in dist.files or [] if ".." not in f.parts and f.suffix != ".pyc" and "__pycache__" not in f.parts]
    if not any(f.parent.name.endswith(".dist-info") and f.name == "WHEEL" for f in files):
        raise CompeteError(f"{name} {dist.version}: not installed from a wheel (no WHEEL file), so it cannot be packed "
                           "again; put its wheel in a folder and pass --wheels DIR")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix=f"repack-{name}-") as tmp:
        for relative in files:
            source = Path(dist.locate_file(relative))
            if relative.name in INSTALLER_FILES and relative.parent.name.endswith(".dist-info"):
                continue
            if source.is_file():
                target = Path(tmp) / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        done = subprocess.run([sys.executable, "-m", "wheel", "pack", "--dest-dir", str(out), tmp],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CompeteError(f"packing {name} {dist.version} into a wheel failed: {last}")
    return _wheel_named(out, name)


def _normalised(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _wheel_named(folder: Path, name: str) -> Path:
    found = [p for p in folder.glob("*.whl") if _normalised(p.name.split("-")[0]) == _normalised(name)]
    if not found:
        raise CompeteError(f"no wheel of {name} was written to {folder}")
    return max(found, key=lambda p: p.stat().st_mtime)


def dependency_wheel(name: str, out: Path, wheels_from: Path | None) -> Path:
    """A wheel of dependency ``name`` at its installed version: from ``wheels_from`` when it holds one,
    else packed from the installed files."""
    version = installed_version(name)
    if wheels_from is not None:
        for candidate in sorted(wheels_from.glob("*.whl")):
            parts = candidate.name.split("-")
            if _normalised(parts[0]) == _normalised(name) and parts[1] == version:
                shutil.copy2(candidate, out / candidate.name)
                return out / candidate.name
    return repack(name, out)


def bundle_wheels(out: Path, extra: list[str], wheels_from: Path | None = None) -> dict[str, str]:
    """compete's wheel and those of KAGGLE_IMAGE_LACKS + ``extra`` in ``out``; {distribution: version}."""
    out.mkdir(parents=True, exist_ok=True)
    project_wheel(out)
    versions = {PROJECT: installed_version(PROJECT)}
    for name in dict.fromkeys([*KAGGLE_IMAGE_LACKS, *extra]):
        dependency_wheel(name, out, wheels_from)
        versions[name] = installed_version(name)
    return versions
