"""A virtualenv that stands for Kaggle's notebook image, for running a package's notebook offline.

It sees this environment's installed packages through a .pth file (torch, pandas, ... as Kaggle's image
has them), except compete itself and the distributions Kaggle's image lacks, which the notebook must
install from the package's wheels. Every connection that is not to this machine is refused and logged,
and a Jupyter kernel of that interpreter is registered under JUPYTER_PATH.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

GUARD = '''import os, socket
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
LOOPBACK = ("127.0.0.1", "::1", "localhost")

def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
        with open(os.environ["OFFLINE_GUARD_LOG"], "a") as log:
            log.write(f"{address[0]}\\n")
        raise OSError(f"offline: the notebook may not connect to {address[0]}")

def connect(self, address):
    _check(self, address)
    return _connect(self, address)

def connect_ex(self, address):
    _check(self, address)
    return _connect_ex(self, address)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
'''


def hidden_entries(site: Path, names: list[str]) -> set[str]:
    """The site-packages entries (top-level packages, modules, dist-info folders) of distributions ``names``."""
    entries = {p.name for p in site.iterdir() if p.name.startswith("__editable__")}
    for name in names:
        dist = importlib.metadata.distribution(name)
        entries.update(Path(f).parts[0] for f in dist.files or [] if ".." not in Path(f).parts)
    return entries


def make_image(root: Path, hide: list[str]) -> tuple[Path, Path]:
    """(the image's python, the log of refused connections); the kernel is named "kaggle-image"."""
    site = Path(sysconfig.get_paths()["purelib"])
    image = root / "image-site-packages"
    image.mkdir(parents=True)
    hidden = hidden_entries(site, ["compete", *hide])
    for entry in site.iterdir():
        if entry.name not in hidden and entry.suffix != ".pth":
            (image / entry.name).symlink_to(entry)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())  # fmt: skip
    (own_site / "offline_guard.py").write_text(GUARD)
    (own_site / "kaggle_image.pth").write_text(f"{image}\nimport offline_guard\n")
    log = root / "refused-connections.log"
    kernel = root / "jupyter" / "kernels" / "kaggle-image"
    kernel.mkdir(parents=True)
    env = {"OFFLINE_GUARD_LOG": str(log), "PYTHONPATH": "", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "OMP_NUM_THREADS": "2", "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled"}  # fmt: skip
    (kernel / "kernel.json").write_text(json.dumps({"argv": [str(python), "-m", "ipykernel_launcher", "-f",
                                                             "{connection_file}"],
                                                    "display_name": "Kaggle image (test)", "language": "python",
                                                    "env": env}))  # fmt: skip
    return python, log
