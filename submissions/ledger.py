"""``runs/<slug>/ledger.jsonl``: one JSON line per submission attempt, updated as the attempt advances.

The whole file is rewritten to a temp name and renamed on every change, so a crash at any moment
leaves either the old ledger or the new one, never half a line. An attempt is written as
``uploading`` *before* the upload starts, and every upload carries ``submission_tag`` in its
description: if the process dies mid-upload or the reply is lost (``unknown``), the next `compete
submit` of the same file looks for the tag in Kaggle's list and records what it finds instead of
uploading again. A lock file keeps two submits of one competition from interleaving.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from competitions.core.artifacts import atomic_path
from competitions.core.errors import CompeteError

# Statuses of an attempt Kaggle confirmed: the same file is not uploaded again without `again`.
SUBMITTED = {"submitted", "PENDING", "COMPLETE"}
# Statuses of an attempt whose outcome is not known (a lost reply, a killed process): before another
# upload of the file, Kaggle's submission list is searched for the file's tag.
UNSETTLED = {"uploading", "unknown"}


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
    from filelock import FileLock

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=60):  # read, change, write: one process at a time
        entries = read_ledger(path)
        position = next((i for i, e in enumerate(entries) if e.get("attempt") == entry["attempt"]), None)
        if position is None:
            entries.append(entry)
        else:
            entries[position] = entry
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    return entry


def earlier_uploads(path: str | Path, digest: str, statuses: set[str] = SUBMITTED) -> list[dict]:
    """Attempts with a file of this sha256 whose status is one of ``statuses`` (default: confirmed uploads)."""
    return [e for e in read_ledger(path) if e.get("sha256") == digest and e.get("status") in statuses]


def submission_tag(digest: str) -> str:
    """What every upload carries in its description, so a lost reply can be found in Kaggle's list."""
    return f"[compete {digest[:12]}]"
