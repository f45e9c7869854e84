"""Extracting the competition's archives (Kaggle's zip, and cifar-10's .7z inside it) safely.

Before anything is written: no member may land outside the target folder (zip slip), and the
archive must stay within ``Limits`` (total unpacked size, member count, and the ratio of unpacked to
packed bytes, which a zip bomb gives away: a 3 GiB member in a 3 MB download). A file that is not a
zip, or a broken 7z, is one DataError naming it.
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from competitions.core.errors import DataError


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 64 * 2**30  # unpacked, the whole archive (cifar-10's test.7z unpacks to about 1 GB)
    max_members: int = 1_000_000  # cifar-10's test set alone is 300,000 PNGs
    max_ratio: float = 200.0  # unpacked / packed bytes; images barely compress, CSVs some 5-20x


DEFAULT_LIMITS = Limits()


def check_members(archive: Path, names: Iterable[str], target: Path) -> None:
    """Refuse an archive with a member that would be written outside ``target``."""
    root = target.resolve()
    for name in names:
        if not (target / name).resolve().is_relative_to(root):
            raise DataError(f"{archive}: member {name!r} would be written outside {target}; refusing")


def check_limits(archive: Path, unpacked: int, members: int, packed: int, limits: Limits) -> None:
    gib = 2**30
    if members > limits.max_members:
        raise DataError(f"{archive}: {members} members, more than the limit of {limits.max_members}; refusing "
                        "(raise it with --max-members if this is expected)")  # fmt: skip
    if unpacked > limits.max_bytes:
        raise DataError(f"{archive}: unpacks to {unpacked / gib:.1f} GiB, more than the limit of "
                        f"{limits.max_bytes / gib:.1f} GiB; refusing (raise it with --max-gb if this is expected)")  # fmt: skip
    if unpacked > 2**20 and unpacked / max(packed, 1) > limits.max_ratio:
        raise DataError(f"{archive}: {packed / 2**20:.1f} MB unpack to {unpacked / gib:.2f} GiB ({unpacked / max(packed, 1):.0f}x, "
                        f"more than {limits.max_ratio:g}x): a zip bomb? refusing (raise --max-ratio if this is expected)")  # fmt: skip


def extract_zip(archive: Path, target: Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Extract ``archive`` into ``target``; returns the member names."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            names = [info.filename for info in infos]
            check_members(archive, names, target)
            packed = max(sum(info.compress_size for info in infos), 1)
            check_limits(archive, sum(info.file_size for info in infos), len(infos), packed, limits)
            zf.extractall(target)
    except zipfile.BadZipFile as err:
        raise DataError(f"{archive}: not a readable zip archive ({err}); delete it and download again") from None
    return names


def extract_7z(archive: Path, target: Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    import py7zr
    from py7zr.exceptions import ArchiveError

    try:
        with py7zr.SevenZipFile(archive, mode="r") as sz:
            entries = sz.list()
            names = [entry.filename for entry in entries]
            check_members(archive, names, target)
            unpacked = sum(entry.uncompressed or 0 for entry in entries)
            check_limits(archive, unpacked, len(entries), archive.stat().st_size, limits)
            sz.extractall(path=target)
    except (ArchiveError, EOFError, lzma.LZMAError, zlib.error) as err:
        raise DataError(f"{archive}: not a readable 7z archive ({err.__class__.__name__}: {err}); "
                        "delete the competition's files and download again") from None  # fmt: skip
    return names
