from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures import make_cifar10

# Never talk to the network from tests; keep W&B offline and quiet.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def cifar_template(tmp_path_factory) -> Path:
    return make_cifar10(tmp_path_factory.mktemp("template"))


@pytest.fixture
def cifar_dir(cifar_template, tmp_path) -> Path:
    """A fresh, writable copy of the tiny cifar-10 folder for each test."""
    target = tmp_path / "data" / "cifar-10"
    shutil.copytree(cifar_template, target)
    return target


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """Run in a temp working directory, as a user would in their project folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
