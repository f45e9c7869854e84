from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from tests.fake_kaggle import FakeKaggle, client_environment, serve
from tests.fixtures import make_cifar10, make_dog_breed, make_leaves
from tests.fixtures_tabular import make_ames, make_california

# Never talk to the network from tests; keep W&B offline and quiet.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # its import-time version check calls the network
# bf16-mixed on a CPU follows a timing probe (pipeline/cpu_precision.py): the suite trains in float32
# whatever CPU runs it; tests/test_batched.py checks the probe and a bf16 run on the CPU by themselves.
os.environ.setdefault("COMPETE_CPU_BF16", "0")


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


# The other competitions: one template per session, a fresh copy per test.
MAKERS = {
    "classify-leaves": make_leaves,
    "dog-breed-identification": make_dog_breed,
    "house-prices-advanced-regression-techniques": lambda root: make_ames(root, n_train=120, n_test=40),
    "california-house-prices": lambda root: make_california(root, n_train=160, n_test=50),
}


@pytest.fixture(scope="session")
def competition_templates(tmp_path_factory) -> dict[str, Path]:
    return {}


@pytest.fixture
def competition_dir(competition_templates, tmp_path_factory, tmp_path):
    """``competition_dir(slug)``: a fresh, writable copy of the tiny ``slug`` folder in Kaggle's layout."""

    def make(slug: str) -> Path:
        if slug not in competition_templates:
            competition_templates[slug] = MAKERS[slug](tmp_path_factory.mktemp(slug))
        target = tmp_path / "data" / slug
        shutil.copytree(competition_templates[slug], target)
        return target

    return make


@pytest.fixture(autouse=True)
def no_spec_files_from_other_tests(monkeypatch):
    """`--spec FILE` adds to COMPETE_SPECS for the process (DDP's children inherit it): each test starts
    without the files an earlier test named."""
    monkeypatch.setenv("COMPETE_SPECS", "")


@pytest.fixture
def loopback_only(monkeypatch):
    """Fail the test if anything connects anywhere but this machine."""
    original = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        assert host in ("127.0.0.1", "::1", "localhost") or str(host).startswith("/"), f"connection to {host}"
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def kaggle_home(tmp_path, monkeypatch, loopback_only):
    """An isolated HOME with a kaggle.json, and the client pointed at a running fake server."""
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    credentials = home / ".kaggle" / "kaggle.json"
    credentials.write_text(json.dumps({"username": "tester", "key": "test-key"}))
    credentials.chmod(0o600)
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeKaggle()
    with serve(fake):
        for key, value in client_environment(fake.port, str(home)).items():
            monkeypatch.setenv(key, value)
        yield fake, home
