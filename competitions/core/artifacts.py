"""Writing run artifacts safely: every file is written to a temp name, then renamed.

A crash (or Ctrl-C) therefore never leaves a half-written CSV, JSON or YAML file behind,
and an existing file is only replaced by a complete new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from competitions.core.ranks import global_rank


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp_path, path)
        if os.environ.get("COMPETE_VERBOSE"):
            print(f"[rank {global_rank()}] wrote {path}", file=sys.stderr, flush=True)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, float_format: str | None = None) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def read_yaml(path: str | os.PathLike) -> Any:
    return yaml.safe_load(Path(path).read_text())


TRACKED_PACKAGES = (
    "torch",
    "torchvision",
    "lightning",
    "torchmetrics",
    "timm",
    "albumentations",
    "pandas",
    "numpy",
    "scikit-learn",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_state(cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """The commit of the code that produced a run, and whether it had uncommitted changes."""
    cwd = Path(cwd or Path(__file__).resolve().parent)

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def run_metadata(command: str = "") -> dict[str, Any]:
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "git": git_state(),
        "versions": package_versions(),
    }


def save_png(figure, out: str | Path) -> Path:
    """A matplotlib figure as a PNG, written through a temp file (never half a picture)."""
    out = Path(out)
    with atomic_path(out) as temporary:
        figure.savefig(temporary, format="png", dpi=figure.dpi)
    return out
