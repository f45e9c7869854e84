"""Extracting the competition's archives (Kaggle's zip, and cifar-10's .7z inside it) safely:
no member may land outside the target folder (zip slip)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

from competitions.core.errors import DataError


def check_members(archive: Path, names: Iterable[str], target: Path) -> None:
    """Refuse an archive with a member that would be written outside ``target``."""
    root = target.resolve()
    for name in names:
        if not (target / name).resolve().is_relative_to(root):
            raise DataError(f"{archive}: member {name!r} would be written outside {target}; refusing")


def extract_zip(archive: Path, target: Path) -> list[str]:
    """Extract ``archive`` into ``target``; returns the member names."""
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        check_members(archive, names, target)
        zf.extractall(target)
    return names


def extract_7z(archive: Path, target: Path) -> list[str]:
    import py7zr

    with py7zr.SevenZipFile(archive, mode="r") as sz:
        names = sz.getnames()
        check_members(archive, names, target)
        sz.extractall(path=target)
    return names
