"""``runs/<slug>/ledger.jsonl``: one JSON line per submission attempt, updated as the attempt advances.

The whole file is rewritten to a temp name and renamed on every change, so a crash at any moment
leaves either the old ledger or the new one, never half a line. An attempt is written as
``uploading`` *before* the upload starts: if the process dies mid-upload, the next `compete submit`
of the same file sees it and refuses to upload again by accident.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from competitions.core.artifacts import atomic_path
from competitions.core.errors import CompeteError

# Statuses after which the same file must not be uploaded again without --again.
SUBMITTED = {"uploading", "submitted", "PENDING", "COMPLETE"}


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_ledger(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            raise CompeteError(f"{path} line {number}: not a JSON line; the ledger was edited by hand?") from None
    return entries


def record(path: str | Path, entry: dict) -> dict:
    """Add ``entry`` (keyed by ``entry["attempt"]``), or replace the line of the same attempt."""
    entries = read_ledger(path)
    position = next((i for i, e in enumerate(entries) if e.get("attempt") == entry["attempt"]), None)
    if position is None:
        entries.append(entry)
    else:
        entries[position] = entry
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    return entry


def earlier_uploads(path: str | Path, digest: str) -> list[dict]:
    """Attempts that uploaded (or may have uploaded) a file with this sha256."""
    return [e for e in read_ledger(path) if e.get("sha256") == digest and e.get("status") in SUBMITTED]
